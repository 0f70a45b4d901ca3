"""Access tokens (short-lived JWTs), refresh tokens and typed codes (random secrets stored only as hashes)."""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

import jwt
import msgspec

ALGORITHM = "HS256"
# Typed codes (a mailed one-time code, a recovery code): no 0/O, 1/I/L, as they are read and typed.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 16  # 80 bits, in four groups of four


class AccessClaims(msgspec.Struct, frozen=True):
    """What an access token says. The database still decides: the device may have been revoked."""

    user_id: uuid.UUID
    device_id: uuid.UUID
    role: str
    expires_at: int = 0  # seconds since the epoch; set when read from a token


def issue_access_token(secret: str, claims: AccessClaims, now: datetime, minutes: int) -> str:
    payload = {
        "sub": str(claims.user_id),
        "did": str(claims.device_id),
        "role": claims.role,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


@functools.lru_cache(maxsize=8192)
def _verified(secret: str, token: str) -> AccessClaims | None:
    """Signature and shape check, remembered: a phone sends the same token for minutes.

    Time is checked by the caller against the service's clock, not here against the wall clock.
    """
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "did"], "verify_exp": False, "verify_iat": False},
        )
        return AccessClaims(
            uuid.UUID(payload["sub"]), uuid.UUID(payload["did"]), str(payload.get("role", "")), int(payload["exp"])
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        return None


def read_access_token(secret: str, token: str, now: datetime) -> AccessClaims | None:
    """The token's claims, or None if it is forged, malformed or expired by the service's clock."""
    claims = _verified(secret, token)
    if claims is None or claims.expires_at <= now.timestamp():
        return None
    return claims


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Refresh tokens are stored hashed: a copy of the database gives no working token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_typed_code() -> str:
    """A code a person reads and types: 16 characters in four groups (`ABCD-EFGH-JKMN-PQRS`)."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, _CODE_LENGTH, 4))


def normalised_typed_code(code: str) -> str:
    """A typed code as it was made, whatever the case, spaces and dashes of the typing."""
    plain = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(plain[i : i + 4] for i in range(0, len(plain), 4))
