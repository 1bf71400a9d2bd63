"""Read settings from the environment; a bad value stops start-up with a clear message."""

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if not value > minimum:
        raise ImproperlyConfigured(f"{name} must be greater than {minimum}, not {raw!r}")
    return value


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {raw!r}")
    return value


def env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    value = env_str(name, default).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def url_problem(url: str) -> str | None:
    """What makes url unusable as an HTTP endpoint (in words), or None when it is one."""
    if not url.isprintable() or any(char.isspace() for char in url):
        return "spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port  # a port that is not a number from 0 to 65535 raises here
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "not an http:// or https:// URL"
    if not parts.hostname:
        return "no host"
    if port == 0:
        return "port 0"
    if parts.username is not None or parts.password is not None:
        return "credentials in the URL (LEADCONDUIT_API_KEY carries the API key)"
    return None


def env_url(name: str, default: str = "", *, https_only: bool) -> str:
    """An http(s) URL with a host; https only when https_only. An empty value is returned as is."""
    url = env_str(name, default)
    if not url:
        return url
    if problem := url_problem(url):
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// URL with a host, not {url!r} ({problem})")
    if https_only and urlsplit(url).scheme != "https":
        raise ImproperlyConfigured(f"{name} must be an https:// URL, not {url!r}")
    return url
