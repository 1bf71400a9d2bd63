"""Settings for the Feedback Portal, read from the environment (see .env.example)."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from feedbackportal.env import env_bool, env_choice, env_float, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"
elif not DEBUG and (
    SECRET_KEY.startswith(("change-me", "django-insecure-")) or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5
):
    # What Django's deploy check (security.W009) wants, plus .env.example's placeholder refused outright.
    raise ImproperlyConfigured(
        "SECRET_KEY must be at least 50 characters of random text (not the .env.example placeholder) when DEBUG is off."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# The embedded LeadConduit stand-in: on in development, never in production.
SANDBOX_ENABLED = DEBUG and env_bool("LEADCONDUIT_SANDBOX", default=True)
PORT = env_int("PORT", 8000, minimum=1)

# Plain HTTP to LeadConduit with DEBUG off only when an operator says so (e.g. a TLS proxy on the same host).
LEADCONDUIT_ALLOW_HTTP = env_bool("LEADCONDUIT_ALLOW_HTTP", default=False)
LEADCONDUIT_FEEDBACK_URL = env_url("LEADCONDUIT_FEEDBACK_URL", https_only=not (DEBUG or LEADCONDUIT_ALLOW_HTTP))
if not LEADCONDUIT_FEEDBACK_URL:
    if not SANDBOX_ENABLED:
        raise ImproperlyConfigured(
            "LEADCONDUIT_FEEDBACK_URL must be set (e.g. https://app.leadconduit.com/feedback) "
            "when DEBUG is off; the embedded sandbox only exists in development."
        )
    LEADCONDUIT_FEEDBACK_URL = f"http://127.0.0.1:{PORT}/sandbox/feedback"
LEADCONDUIT_REQUEST_FORMAT = env_choice("LEADCONDUIT_REQUEST_FORMAT", ("json", "xml", "form"), "json")
LEADCONDUIT_RESPONSE_FORMAT = env_choice("LEADCONDUIT_RESPONSE_FORMAT", ("json", "xml"), "json")
LEADCONDUIT_API_KEY = env_str("LEADCONDUIT_API_KEY")
LEADCONDUIT_TIMEOUT = env_float("LEADCONDUIT_TIMEOUT", 10.0)
# Delivery: attempts that certainly did not reach LeadConduit are retried this many times in all.
LEADCONDUIT_MAX_ATTEMPTS = env_int("LEADCONDUIT_MAX_ATTEMPTS", 6, minimum=1)
LEADCONDUIT_RETRY_BASE_SECONDS = env_float("LEADCONDUIT_RETRY_BASE_SECONDS", 5.0)
# Opt-in: also retry calls whose fate is unknown (read timeout, 5xx). LeadConduit bills every call
# and does not de-duplicate, so this can record a return twice; off unless an operator accepts that.
LEADCONDUIT_RESEND_UNKNOWN = env_bool("LEADCONDUIT_RESEND_UNKNOWN", default=False)
# A worker not seen for this long counts as down (health endpoint, managers' banner).
WORKER_STALE_SECONDS = env_int("WORKER_STALE_SECONDS", 60, minimum=5)
# How long a queued feedback may wait without a live task before the sweeper enqueues it again.
SWEEP_GRACE_SECONDS = env_int("SWEEP_GRACE_SECONDS", 60, minimum=1)
# An agent's feedback waits this long before the worker may send it, so a slip can be undone; 0 sends at once.
FEEDBACK_UNDO_SECONDS = env_int("FEEDBACK_UNDO_SECONDS", 5, minimum=0)
# CSV imports: a file wider or with longer rows than this is refused before anything is built from
# it (a hostile or broken file must not take a web worker or the worker down).
IMPORT_MAX_COLUMNS = env_int("IMPORT_MAX_COLUMNS", 200, minimum=1)
IMPORT_MAX_ROW_CHARS = env_int("IMPORT_MAX_ROW_CHARS", 100_000, minimum=100)
# What a lead's raw payload keeps of each CSV cell.
IMPORT_MAX_CELL_CHARS = env_int("IMPORT_MAX_CELL_CHARS", 1000, minimum=1)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_tasks_db",
    "django_filters",
    # Before feedback: the Admin role is granted axes' admin permissions (feedback/defaults.py).
    "axes",
    "feedbackportal.leads",
    # Before feedback: the roles it makes after every migrate (feedback/defaults.py) grant imports'
    # permission, which must exist by then.
    "feedbackportal.imports",
    "feedbackportal.feedback",
    "feedbackportal.sandbox",
    "feedbackportal.health",
    "feedbackportal.reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "feedbackportal.roles.RoleRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "feedbackportal.middleware.PrivateResponsesMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "feedbackportal.middleware.HtmxLoginRedirectMiddleware",
    # Last, as axes documents: turns a refused login into the locked-out page.
    "axes.middleware.AxesMiddleware",
]

# An index's INCLUDE columns are PostgreSQL's (feedback.Feedback's feedback_newest_counted); SQLite
# builds the index on its key columns, which is what it needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

ROOT_URLCONF = "feedbackportal.urls"
WSGI_APPLICATION = "feedbackportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "feedbackportal.health.context_processors.worker_banner",
            ],
            "builtins": ["feedbackportal.people"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The rates page groups a quarter's feedback three ways in one pass; with PostgreSQL's default
    # 4 MB the planner sorts that on disk instead of hashing it (180 ms instead of 120 at 1M).
    # No JIT: a search guards arms it never runs, whose estimates (a sort of every "F…" lead) put
    # the query over jit_above_cost, and compiling it took 40-55 ms of a 45-85 ms "F" at 1M leads;
    # no page measured faster with it.
    # Put before any options DATABASE_URL gives (?options=-c statement_timeout=…), which win a tie.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    ours = f"-c work_mem={env_str('DATABASE_WORK_MEM') or '16MB'} -c jit=off"
    options["options"] = f"{ours} {options.get('options', '')}".strip()
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and sandbox write to one file at once: WAL lets readers go on during a write,
    # IMMEDIATE takes the write lock up front so two writers wait instead of deadlocking.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }

TASKS = {
    "default": {
        "BACKEND": "django_tasks_db.DatabaseBackend",
        "QUEUES": ["default"],
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): the first backend refuses any login, right password or not, for a
# username or an address with LOGIN_FAILURE_LIMIT failures in the last LOGIN_COOLOFF_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "feedbackportal.permissions.OneQueryPermissions",  # permission checks in one query (not a sign-in)
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# Each listed separately: a username is locked whatever address it is tried from, and an address
# whatever usernames it tries. Behind one NAT address for a whole floor, LOGIN_LOCKOUT_BY=username.
AXES_LOCKOUT_PARAMETERS = env_list("LOGIN_LOCKOUT_BY", "username,ip_address")
if not AXES_LOCKOUT_PARAMETERS or set(AXES_LOCKOUT_PARAMETERS) - {"username", "ip_address"}:
    raise ImproperlyConfigured("LOGIN_LOCKOUT_BY must list username and/or ip_address")
# Behind a proxy, the client's address is the one the nearest TRUSTED_PROXY_COUNT proxies saw.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if env_bool("BEHIND_TLS_PROXY", default=False) else 0)
AXES_CLIENT_IP_CALLABLE = "feedbackportal.throttle.client_ip"
AXES_LOCKOUT_CALLABLE = "feedbackportal.throttle.locked_out"
# While locked, further tries are refused without being recorded: the lock is not extended by an
# attacker, and its record (which keeps each try's form data, password masked) stops growing.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure, for admins (Admin → Access failures)
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "leads:search"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
# The currency lead prices are in (ISO 4217); every amount is a Decimal with cents, never a float.
CURRENCY = env_str("CURRENCY", "USD").upper()
if not (len(CURRENCY) == 3 and CURRENCY.isalpha()):
    raise ImproperlyConfigured(f"CURRENCY must be a three-letter ISO 4217 code such as USD, not {CURRENCY!r}")
USE_I18N = True
USE_TZ = True

MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or BASE_DIR / "var" / "media")  # uploaded CSV files
MEDIA_URL = "media/"  # never served: uploads are read by the import worker only

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# A form that fails the CSRF check gets a page saying nothing was sent (templates/403_csrf.html).
CSRF_FAILURE_VIEW = "feedbackportal.errors.csrf_failure"

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    # A load balancer's health check speaks plain HTTP; /health/ carries no lead data.
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "feedbackportal": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    },
}
