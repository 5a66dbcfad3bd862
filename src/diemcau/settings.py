"""Django settings. Everything comes from the environment through `diemcau.config`.

Environment variables (all optional):
  DIEMCAU_DATA_DIR    data folder (default ./var): SQLite database, secrets, Janus config
  DATABASE_URL        use PostgreSQL (postgres://user@host:5432/name) instead of SQLite
  REDIS_URL           Channels layer across processes (redis://127.0.0.1:6379/0)
  DIEMCAU_DEBUG       1 to turn on Django's debug pages (never in production)
  DIEMCAU_ALLOWED_HOSTS  comma-separated host names (default: the front's names, below)
  DIEMCAU_DOMAIN      public name: Caddy gets an ACME certificate for it
  DIEMCAU_TLS_CERT/_KEY  the organisation's own certificate instead
  DIEMCAU_HOSTS       more names (comma-separated) for the local CA's certificate
  DIEMCAU_HTTPS_PORT / DIEMCAU_HTTP_PORT  the front's ports (443 / 80)
  DIEMCAU_JANUS_URL   use an external Janus at this WebSocket URL instead of the embedded one
  DIEMCAU_PUBLIC_IP   the address a 1:1 NAT maps to this server (Janus and coturn announce it)
  DIEMCAU_TURN        embedded (default: serve runs coturn), external or off
  DIEMCAU_TURN_PORT / DIEMCAU_TURN_TLS_PORT  TURN over UDP+TCP / over TLS (3478 / 5349)

Each is read and checked in `diemcau.config` (`app_settings()` for the ones below, with the
values allowed); a bad value stops start-up with the variable's name and what is allowed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext

from diemcau import config
from diemcau.front import csp

# Lets forms and querysets be written with type parameters (ModelForm[Meeting]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = config.data_dir()
_SECRETS = config.load_secrets(DATA_DIR)
_ENV = config.app_settings()

SECRET_KEY = _SECRETS["django_secret_key"]
DEBUG = _ENV.debug
# Browsers reach the app only through the HTTPS front (Caddy; docs/deploy.md). The names it
# answers to, and so ALLOWED_HOSTS (which the WebSocket Origin check uses too) and the CSRF
# trusted origins, follow from the configured domain and this machine's addresses.
FRONT = config.front_settings()
# Django compares IPv6 hosts in their bracketed form ("[fd00::5]").
ALLOWED_HOSTS = list(
    _ENV.allowed_hosts
    if _ENV.allowed_hosts is not None
    else (f"[{n}]" if ":" in n else n for n in FRONT.names)
)
CSRF_TRUSTED_ORIGINS = [*_ENV.csrf_trusted_origins] + [FRONT.origin(name) for name in FRONT.names]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "axes",
    "diemcau.accounts",
    "diemcau.front",
    "diemcau.orgs",
    "diemcau.meetings",
    "diemcau.directives",
    "diemcau.live",
    "diemcau.reports",
    "diemcau.minutes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy from SECURE_CSP (below; diemcau/front/csp.py).
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into our page (accounts/lockout.py).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "diemcau.urls"
ASGI_APPLICATION = "diemcau.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

_DEFAULT_DB = f"sqlite:///{DATA_DIR / 'diemcau.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(_ENV.database_url or _DEFAULT_DB, conn_max_age=0),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web app read while a long import writes; busy timeout rides out locks.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file too: an in-memory database is shared between threads in SQLite's
    # shared-cache mode, where concurrent access fails with "table is locked" instead of
    # waiting, unlike the real (file, WAL) database the consumers' threads use.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    # It holds password hashes and join-link keys: this user's only (0600), from the start.
    if str(DATABASES["default"]["NAME"]) not in ("", ":memory:"):
        config.private_file(Path(DATABASES["default"]["NAME"]))

REDIS_URL = _ENV.redis_url
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Login lockout (django-axes, docs: https://django-axes.readthedocs.io/): this many failures
# for one user name from one address within the cool-off locks that pair, on our login form
# and the admin's alike (its backend checks every authenticate()). By the pair, so an
# attacker locks only themselves out, never the account's owner elsewhere.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = _ENV.login_max_failures
AXES_COOLOFF_TIME = timedelta(seconds=_ENV.login_lockout_seconds)
# The address: the front's X-Forwarded-For only when the front sent it (FRONT.trusted_proxies).
AXES_CLIENT_IP_CALLABLE = "diemcau.accounts.lockout.client_ip"
# Our login page, saying how many minutes are left, instead of axes' bare text.
AXES_LOCKOUT_CALLABLE = "diemcau.accounts.lockout.locked_out"
# Tries while locked do not start the wait again, so the minutes shown count down.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A successful login forgets that address's failures for the account.
AXES_RESET_ON_SUCCESS = True
# Failures only: no table of every successful login.
AXES_DISABLE_ACCESS_LOG = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Every page is served over HTTPS by the front, which tells the app so (X-Forwarded-Proto);
# the app itself listens on loopback only, so nobody else can set that header.
# (DIEMCAU_FRONT=none, plain HTTP on loopback, exists for tests and benchmarks only.)
SESSION_COOKIE_SECURE = FRONT.mode != "none"
CSRF_COOKIE_SECURE = FRONT.mode != "none"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HSTS: one year for the configured names. Browsers honour it only once the certificate is
# trusted (after /ca/ for the local CA) and never for IP addresses.
SECURE_HSTS_SECONDS = _ENV.hsts_seconds if FRONT.mode != "none" else 0
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "vi"
LANGUAGES = [("vi", "Tiếng Việt"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "Asia/Ho_Chi_Minh"
USE_TZ = True
FORMAT_MODULE_PATH = ["diemcau.formats"]

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS: list[tuple[str, Path] | Path] = [BASE_DIR / "static"]
for _prefix, _path in (
    ("vendor/janus", Path("/usr/share/javascript/janus-gateway")),
    ("vendor/adapter", Path("/usr/share/javascript/webrtc-adapter")),
):
    if _path.is_dir():
        STATICFILES_DIRS.append((_prefix, _path))

MEDIA_URL = "files/"
MEDIA_ROOT = DATA_DIR / "files"
# Meeting documents: size cap and the types we accept (checked by extension and content).
DOCUMENT_MAX_BYTES = _ENV.document_max_bytes
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Neither limits a file's size: LimitedUploadHandler stops a file at its page's limit while
# it arrives (DOCUMENT_MAX_BYTES, or the page's own), and asgi.py's BodyLimit the body.
FILE_UPLOAD_HANDLERS = [
    "diemcau.uploadsafety.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One active main site per organisation, unless an installation runs several HQs.
ALLOW_MULTIPLE_MAIN_SITES = _ENV.allow_multiple_main_sites

# Join links stay valid until the meeting's end plus this grace period.
JOIN_LINK_GRACE_SECONDS = _ENV.join_link_grace_seconds

JANUS = config.janus_settings(_SECRETS)
# Content-Security-Policy: only our own scripts, no framing, connections to this server and
# Janus's WebSocket only (front/csp.py). `serve --janus-url` sets it again for its Janus.
SECURE_CSP = csp.policy(FRONT, JANUS.public_url)
# Janus signed tokens handed to participants expire after this many seconds.
JANUS_TOKEN_TTL_SECONDS = _ENV.janus_token_ttl_seconds
# Room options: VP8 + Opus, a per-publisher bitrate cap that fits a branch site's uplink.
JANUS_ROOM_BITRATE = _ENV.janus_room_bitrate
# Janus's RTP/RTCP ports, checked at start; the embedded Janus and the media problem panel
# read them through `config.rtp_ports()`.
RTP_PORTS = _ENV.rtp_ports
# The TURN relay (coturn) and its ephemeral credentials: docs/deploy.md.
TURN = config.turn_settings(_SECRETS)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "diemcau": {"handlers": ["console"], "level": _ENV.log_level},
    },
}
