"""The fixed texts Lindra sends by SMS, and the reply codes in them.

An SMS crosses operators' networks and sits on a lock screen: it says that there is an alert and
how to take it, never whose, where or why. The person reads it in her own language (Danish unless
her profile says English).
"""

from __future__ import annotations

import re
import secrets

# No 0/O, 1/I/L: a code is read off a lock screen and typed with a thumb.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6  # 31**6 ≈ 8.9e8 codes, and only the registered number may use one

_TEXTS = {
    "alert": {
        "da": "Lindra: akut alarm. Svar 1 {code} for at kvittere.",
        "en": "Lindra: urgent alert. Reply 1 {code} to acknowledge.",
    },
    "recall": {
        "da": "Lindra: du har kvitteret for en alarm, men ikke meldt dig på vej. Svar 1 {code} når du er på vej.",
        "en": "Lindra: you acknowledged an alert but are not on your way. Reply 1 {code} when you are.",
    },
    "held_by": {
        "da": "Lindra: {holder} har allerede alarmen.",
        "en": "Lindra: {holder} already has the alert.",
    },
    "test": {
        "da": "Lindra: test af din telefon. Du skal ikke svare.",
        "en": "Lindra: a test of your phone. No need to reply.",
    },
    # To the coordinator on duty when Lindra sees a fault in itself.
    "worker_silent": {
        "da": "Lindra: baggrundsarbejdet er gået i stå; alarmer eskalerer ikke. Se tavlen.",
        "en": "Lindra: the background worker has stopped; alerts do not escalate. See the board.",
    },
    "push_failing": {
        "da": "Lindra: push til telefonerne fejler; alarmer når kun frem som SMS. Se tavlen.",
        "en": "Lindra: pushes to the phones fail; alerts arrive only by SMS. See the board.",
    },
    "sms_gateway_down": {
        "da": "Lindra: SMS-gatewayen svarede ikke. Se tavlen.",
        "en": "Lindra: the SMS gateway did not answer. See the board.",
    },
}
# How a reply says "I take it": the word 1, then the code; case, spaces and words after it do not matter.
_REPLY = re.compile(r"^\s*1\s+([A-Za-z0-9]{4,16})(?:\s.*)?$", re.DOTALL)


def new_code() -> str:
    """A reply code from the operating system's randomness: unguessable while the alert lives."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def alert_text(language: str, code: str) -> str:
    """The SMS for an alert nobody has taken: no name, place or reason, only how to take it."""
    return _TEXTS["alert"].get(language, _TEXTS["alert"]["da"]).format(code=code)


def recall_text(language: str, code: str) -> str:
    """The SMS to the holder of an alert she acknowledged and has not moved on: reply when on the way."""
    return _TEXTS["recall"].get(language, _TEXTS["recall"]["da"]).format(code=code)


def held_by_text(language: str, holder: str) -> str:
    """The answer to a reply for an alert a colleague holds (her first name, or her role)."""
    return _TEXTS["held_by"].get(language, _TEXTS["held_by"]["da"]).format(holder=holder)


def test_text(language: str) -> str:
    """The SMS of a phone check: it is a test, and needs no answer (its delivery report is the answer)."""
    return _TEXTS["test"].get(language, _TEXTS["test"]["da"])


def fault_text(fault: str, language: str) -> str:
    """The SMS to the coordinator on duty when Lindra sees a fault in itself (names the fault, nobody)."""
    return _TEXTS[fault].get(language, _TEXTS[fault]["da"])


def reply_code(text: str) -> str | None:
    """The code a reply names ("1 k7m2qx", "  1   K7M2QX  tak"), in upper case, or None."""
    found = _REPLY.match(text)
    return found.group(1).upper() if found else None
