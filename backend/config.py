"""Settings, read from the environment once and passed explicitly to whatever needs them."""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from backend.row_scope import APP_ROLE


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _list(name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in os.environ.get(name, "").split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a deployment may set; the defaults suit `lindra serve` on a laptop."""

    # PostgreSQL URL (postgresql://...). Empty means: start the embedded PostgreSQL in `data_dir`.
    database_url: str = ""
    # Folder for the embedded PostgreSQL cluster and the generated secret key.
    data_dir: Path = Path(".lindra")
    # HMAC key that signs access tokens. Production must set LINDRA_SECRET_KEY; the embedded
    # default generates one and keeps it in the data folder so tokens survive a restart.
    secret_key: str = ""
    # Access tokens are short-lived: a revoked device loses access at once anyway (checked per
    # request), and a stolen token is worth little for long.
    access_token_minutes: int = 10
    refresh_token_days: int = 30
    # Failed logins (see backend.people.throttle): from the `login_slow_after`-th failure of one
    # e-mail from one client address each answer is delayed; after `login_lock_after` failures
    # within `login_window_minutes` that e-mail is locked for that address only, for
    # `login_lock_minutes`. From `login_email_slow_after` failures of the e-mail from all
    # addresses together, every answer for it is slowed, never locked.
    login_slow_after: int = 3
    login_lock_after: int = 6
    login_window_minutes: int = 15
    login_lock_minutes: int = 15
    login_email_slow_after: int = 30
    # Mail for one-time password codes. With no `smtp_host` (the demo) nothing is sent: each mail
    # is written to `data_dir`/outbox, readable by the operator only, and the answer says so.
    smtp_host: str = ""
    smtp_port: int = 587
    # "starttls" (the default: the code never crosses the network in clear), "tls", or "none"
    # (only for a mail relay on the same host, and the tests' local server).
    smtp_security: str = "starttls"
    smtp_username: str = ""
    smtp_password: str = ""
    mail_from: str = "Lindra <no-reply@lindra.invalid>"
    smtp_timeout_seconds: float = 10.0
    # How long a one-time code to choose a password works.
    password_code_hours: int = 24
    # Stored answers to idempotent writes are forgotten after this long (they may hold names);
    # a retry later than that is treated as a new request.
    idempotency_retention_hours: int = 72
    # A planned visit with no check-in this many minutes after its window ends becomes missed.
    visit_grace_minutes: int = 30
    # Run the background work (escalation sweeps, scheduled jobs, the push sender): `lindra serve`
    # starts a worker process for it; an app made by `create_app` runs it in its own process.
    housekeeping: bool = True
    # Loopback port on which that worker serves its metrics to the instance's /metrics (0: none).
    worker_metrics_port: int = 0
    # Size of the SQLAlchemy connection pool per process.
    db_pool_size: int = 20
    # The database role the connections act as, which row-level security binds (backend/row_scope.py).
    # Not read from the environment; empty (the URL's user) only to measure the wall's cost (bench/cases.py).
    db_role: str = APP_ROLE
    # Origins allowed to call the API from a browser (comma separated in LINDRA_ALLOWED_ORIGINS).
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    # Path to a Firebase service-account JSON; empty means pushes are only logged (the demo).
    # Bearer token Prometheus must send to /metrics; empty leaves /metrics open (keep it behind the proxy).
    metrics_token: str = ""
    fcm_credentials: str = ""
    # Indicators leave out counts under this (and those that would give one back): no one is singled out.
    indicator_min_count: int = 5
    # Base URL of an FCM-compatible endpoint instead of Google's (the local stub in tests and benches).
    fcm_url: str = ""
    # Per-request timeout for FCM and its OAuth token endpoint.
    fcm_timeout_seconds: float = 5.0
    # Kannel's smsbox `sendsms` URL (http://host:13013/cgi-bin/sendsms); empty means SMS are only
    # logged (the demo). The sendsms-user's name and password, and the sender shown on the phone.
    sms_gateway_url: str = ""
    sms_gateway_username: str = ""
    sms_gateway_password: str = ""
    sms_sender: str = "Lindra"
    sms_timeout_seconds: float = 5.0
    # Where Kannel reaches this service (its delivery reports and the replies), and the shared
    # secret it must send as HTTP Basic credentials (user `kannel`); without one both are refused.
    sms_callback_url: str = ""
    sms_callback_secret: str = ""
    # Sign-in with a municipality's identity provider (backend.people.federation): the address
    # at which browsers reach this service (the board's redirect URI is <public_url>/auth/oidc/callback,
    # the provider's back-channel logout <public_url>/auth/oidc/backchannel-logout/<municipality id>),
    # and the redirect URI the phone app registers (its own scheme; the app hands Lindra the code).
    public_url: str = ""
    oidc_app_redirect_uri: str = "dk.lindra.app:/oidc"
    # A token signed with an unknown key fetches the provider's keys again at most this often.
    oidc_key_refetch_seconds: float = 60.0
    oidc_timeout_seconds: float = 10.0
    # How long a sign-in may stay at the provider before its answer is refused.
    oidc_attempt_minutes: int = 10
    # A JSON file with each municipality's SAML identity provider (KOMBIT's Context Handler):
    # backend.people.federation.saml.load_providers; empty means no SAML sign-in.
    saml_providers_file: str = ""
    # SAML has no back channel and no refresh at the provider: a device signed in through SAML is
    # refused at refresh once this many hours have passed since the provider last vouched for her
    # (her last SAML sign-in on any device), and she signs in at the provider again.
    saml_session_hours: int = 12
    # How long a letter (MedCom CareCommunication) waits for its acknowledgement before it is sent
    # again (MedCom: 30 minutes; at most two re-sends, then it has failed).
    medcom_resend_seconds: int = 1800
    # Lindra watches itself (backend/alerts/watch.py): how often, and after how long each fault
    # shows on the boards and texts the coordinator on duty: no worker has finished a sweep, every
    # push attempt failed, the SMS gateway did not answer.
    watch_every_seconds: float = 2.0
    watch_worker_seconds: float = 30.0
    watch_push_seconds: float = 120.0
    watch_sms_seconds: float = 10.0

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from LINDRA_* variables (and DATABASE_URL); keyword overrides win."""
        values: dict[str, object] = {
            "database_url": os.environ.get("DATABASE_URL", ""),
            "data_dir": Path(os.environ.get("LINDRA_DATA_DIR", ".lindra")),
            "secret_key": os.environ.get("LINDRA_SECRET_KEY", ""),
            "access_token_minutes": _int("LINDRA_ACCESS_TOKEN_MINUTES", 10),
            "refresh_token_days": _int("LINDRA_REFRESH_TOKEN_DAYS", 30),
            "login_slow_after": _int("LINDRA_LOGIN_SLOW_AFTER", 3),
            "login_lock_after": _int("LINDRA_LOGIN_LOCK_AFTER", 6),
            "login_window_minutes": _int("LINDRA_LOGIN_WINDOW_MINUTES", 15),
            "login_lock_minutes": _int("LINDRA_LOGIN_LOCK_MINUTES", 15),
            "login_email_slow_after": _int("LINDRA_LOGIN_EMAIL_SLOW_AFTER", 30),
            "smtp_host": os.environ.get("LINDRA_SMTP_HOST", ""),
            "smtp_port": _int("LINDRA_SMTP_PORT", 587),
            "smtp_security": os.environ.get("LINDRA_SMTP_SECURITY", "starttls"),
            "smtp_username": os.environ.get("LINDRA_SMTP_USERNAME", ""),
            "smtp_password": os.environ.get("LINDRA_SMTP_PASSWORD", ""),
            "mail_from": os.environ.get("LINDRA_MAIL_FROM") or "Lindra <no-reply@lindra.invalid>",
            "smtp_timeout_seconds": float(os.environ.get("LINDRA_SMTP_TIMEOUT_SECONDS") or 10.0),
            "password_code_hours": _int("LINDRA_PASSWORD_CODE_HOURS", 24),
            "idempotency_retention_hours": _int("LINDRA_IDEMPOTENCY_RETENTION_HOURS", 72),
            "visit_grace_minutes": _int("LINDRA_VISIT_GRACE_MINUTES", 30),
            "housekeeping": os.environ.get("LINDRA_HOUSEKEEPING", "1") != "0",
            "worker_metrics_port": _int("LINDRA_WORKER_METRICS_PORT", 0),
            "db_pool_size": _int("LINDRA_DB_POOL_SIZE", 20),
            "allowed_origins": _list("LINDRA_ALLOWED_ORIGINS"),
            "metrics_token": os.environ.get("LINDRA_METRICS_TOKEN", ""),
            "fcm_credentials": os.environ.get("LINDRA_FCM_CREDENTIALS", ""),
            "indicator_min_count": _int("LINDRA_INDICATOR_MIN_COUNT", 5),
            "fcm_url": os.environ.get("LINDRA_FCM_URL", ""),
            "fcm_timeout_seconds": float(os.environ.get("LINDRA_FCM_TIMEOUT_SECONDS") or 5.0),
            "sms_gateway_url": os.environ.get("LINDRA_SMS_GATEWAY_URL", ""),
            "sms_gateway_username": os.environ.get("LINDRA_SMS_USERNAME", ""),
            "sms_gateway_password": os.environ.get("LINDRA_SMS_PASSWORD", ""),
            "sms_sender": os.environ.get("LINDRA_SMS_SENDER") or "Lindra",
            "sms_timeout_seconds": float(os.environ.get("LINDRA_SMS_TIMEOUT_SECONDS") or 5.0),
            "sms_callback_url": os.environ.get("LINDRA_SMS_CALLBACK_URL", ""),
            "sms_callback_secret": os.environ.get("LINDRA_SMS_CALLBACK_SECRET", ""),
            "public_url": os.environ.get("LINDRA_PUBLIC_URL", "").rstrip("/"),
            "oidc_app_redirect_uri": os.environ.get("LINDRA_OIDC_APP_REDIRECT_URI") or "dk.lindra.app:/oidc",
            "oidc_key_refetch_seconds": float(os.environ.get("LINDRA_OIDC_KEY_REFETCH_SECONDS") or 60.0),
            "oidc_timeout_seconds": float(os.environ.get("LINDRA_OIDC_TIMEOUT_SECONDS") or 10.0),
            "oidc_attempt_minutes": _int("LINDRA_OIDC_ATTEMPT_MINUTES", 10),
            "saml_providers_file": os.environ.get("LINDRA_SAML_PROVIDERS", ""),
            "saml_session_hours": _int("LINDRA_SAML_SESSION_HOURS", 12),
            "medcom_resend_seconds": _int("LINDRA_MEDCOM_RESEND_SECONDS", 1800),
            "watch_every_seconds": float(os.environ.get("LINDRA_WATCH_EVERY_SECONDS") or 2.0),
            "watch_worker_seconds": float(os.environ.get("LINDRA_WATCH_WORKER_SECONDS") or 30.0),
            "watch_push_seconds": float(os.environ.get("LINDRA_WATCH_PUSH_SECONDS") or 120.0),
            "watch_sms_seconds": float(os.environ.get("LINDRA_WATCH_SMS_SECONDS") or 10.0),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def with_secret(self) -> Settings:
        """Return settings with a secret key, generating and keeping one in the data folder if unset."""
        if self.secret_key:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return dataclasses.replace(self, secret_key=key_file.read_text().strip())
