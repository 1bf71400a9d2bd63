"""Test settings: development mode (embedded sandbox on), a file database so threads can share it."""

import os
import tempfile

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("LEADCONDUIT_TIMEOUT", "2")
os.environ.setdefault("LEADCONDUIT_RETRY_BASE_SECONDS", "1")
# Most tests deliver right after submitting; the undo window's own tests set a window.
os.environ.setdefault("FEEDBACK_UNDO_SECONDS", "0")

from feedbackportal.settings import *  # noqa: F403
from feedbackportal.settings import BASE_DIR, DATABASES

MEDIA_ROOT = tempfile.mkdtemp(  # type: ignore[assignment]
    prefix="fp-test-media-"
)  # uploads in tests never land in the checkout
STATIC_ROOT = None  # type: ignore[assignment]  # static files come from the finders in tests
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: the live server, the worker and the test each open their own connection.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_SQLITE_PATH", str(BASE_DIR / ".test-db.sqlite3"))}
