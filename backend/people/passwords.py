"""Passwords: hashing them, checking them, and what a password a user chooses must be.

The rules follow NIST SP 800-63B (5.1.1.2): a length, not a composition. A new password has at
least 12 characters (health data), at most 200 (far above the 64 the standard asks us to allow;
argon2 of a megabyte would be a denial of service); spaces and any letters are welcome; nothing
demands a digit or a capital. It is refused when it is common or easy to guess: it is measured
by zxcvbn (PyPI `zxcvbn`, maintained), whose lists are the most common passwords of the large
breaches, common words and names, and whose matchers find repeats (`aaaaaaaaaaaa`, twelve
spaces), keyboard walks, sequences and dates. Context words count against it too: the service's
name and the parts of the user's e-mail and name. What is left of the password once those, years
and separators are taken out must still be hard to guess, so `lindra-demo-2026` or
`karen.hansen2026` are refused although they are long.

Only a password a user chooses is checked (redeeming a one-time code, the change at sign-in).
The demo loader writes its logins' hashes itself, so the demo's `lindra-demo-2026`, which this
check would refuse, keeps working for the demo.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from backend.errors import Problem

MIN_LENGTH = 12
MAX_LENGTH = 200
# zxcvbn's estimate of the guesses an attacker needs, as a power of ten: 10^8 is its "safely
# unguessable" score 3, with argon2 slowing each offline guess and the throttle each online one.
MIN_GUESSES_LOG10 = 8.0
SERVICE_WORDS = ("lindra",)
_YEARS = re.compile(r"(19|20)\d\d")
_WORD_PARTS = re.compile(r"[^\w]+|_|\d+")

_HASHER = PasswordHasher()


async def hash_password(password: str) -> str:
    """Argon2 takes tens of milliseconds of CPU: run it off the event loop so other requests go on."""
    return await asyncio.to_thread(_HASHER.hash, password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash was made with weaker parameters than today's, so a login should renew it."""
    return _HASHER.check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


async def password_matches(password_hash: str | None, password: str) -> bool:
    """Check against the user's hash, or a dummy one when there is none (no such user, or no password
    chosen yet), so the time taken tells nothing."""
    stored = password_hash if password_hash is not None else await asyncio.to_thread(_dummy_hash)
    try:
        matches = await asyncio.to_thread(_HASHER.verify, stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(matches) and password_hash is not None


def context_words(email: str, full_name: str = "") -> list[str]:
    """The words an attacker tries first against this user: the service, her e-mail, her name."""
    local, _, domain = email.lower().partition("@")
    parts = [*_WORD_PARTS.split(local), *domain.split(".")[:-1], *_WORD_PARTS.split(full_name.lower())]
    words = {word for word in [*SERVICE_WORDS, *parts] if len(word) >= 3}
    return sorted(words, key=len, reverse=True)


def _weak(problem_rule: str, detail: str, field: str) -> Problem:
    return Problem(422, "Password not accepted", detail, field=field, rule=problem_rule)


def check_new_password(password: str, email: str, full_name: str, field: str) -> None:
    """Refuse a password the user chose when it is short, common or made of her own context.

    Raises a problem naming `field` and saying why in plain words.
    """
    if len(password) < MIN_LENGTH:
        raise _weak(
            "password_length",
            f"Use at least {MIN_LENGTH} characters. A few words you will remember are good; spaces are allowed.",
            field,
        )
    if len(password) > MAX_LENGTH:
        raise _weak("password_length", f"Use at most {MAX_LENGTH} characters.", field)
    words = context_words(email, full_name)
    measured = zxcvbn(password[:100], user_inputs=words)
    if measured["guesses_log10"] < MIN_GUESSES_LOG10:
        warning = measured["feedback"]["warning"] or "It follows a pattern that is quickly guessed."
        raise _weak(
            "password_common",
            f"This password is too easy to guess: {warning} Choose words of your own, not a known password.",
            field,
        )
    rest = password.lower()
    for word in words:
        rest = rest.replace(word, "")
    rest = "".join(ch for ch in _YEARS.sub("", rest) if ch.isalnum())
    if not rest or zxcvbn(rest[:100])["guesses_log10"] < MIN_GUESSES_LOG10:
        raise _weak(
            "password_context",
            "This password is mostly the service's name, your e-mail or name, or a year: "
            "those are the first things an attacker tries.",
            field,
        )
