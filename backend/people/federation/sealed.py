"""Secrets Lindra must use again (a provider's client secret, a person's refresh token at the
provider, a TOTP secret), sealed at rest with a key derived from the service's secret key: a
copy of the database alone opens nothing. Changing LINDRA_SECRET_KEY means entering the client
secrets again, signing federated devices in again, and enrolling authenticator apps again (an
unreadable seal counts as none)."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"lindra-seal\0" + secret_key.encode()).digest()))


def seal(secret_key: str, value: str) -> str:
    return _fernet(secret_key).encrypt(value.encode()).decode()


def unseal(secret_key: str, sealed: str | None) -> str | None:
    """The value, or None when there is none or it was sealed under another key."""
    if sealed is None:
        return None
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None
