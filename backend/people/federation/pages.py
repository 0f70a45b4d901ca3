"""The page a browser sees when the provider vouched for someone Lindra lets in nowhere.

It says what to do and names no one: the same page for everyone refused for the same reason.
Danish by default, English when the browser asks for it first.
"""

from __future__ import annotations

from html import escape

from backend.people.federation.mapping import Refusal

TEXTS = {
    "da": {
        "title": "Ingen adgang til Lindra",
        "unmapped": "Du er logget ind hos din kommune, men dine grupper giver ikke adgang til Lindra. "
        "Bed din Lindra-administrator om at give en af dine grupper adgang.",
        "no_district": "Dine grupper giver adgang som sygeplejerske, men uden distrikt. "
        "Kontakt din Lindra-administrator.",
        "disabled": "Din adgang til Lindra er stoppet. Kontakt din Lindra-administrator.",
        "email_taken": "Din e-mailadresse hører til en anden Lindra-konto. Kontakt din Lindra-administrator.",
        "cancelled": "Log-ind blev afbrudt hos din kommune. Prøv igen.",
        "failed": "Svaret fra din kommunes log-ind kunne ikke godkendes. Prøv igen.",
        "back": "Tilbage til log-ind",
    },
    "en": {
        "title": "No access to Lindra",
        "unmapped": "You are signed in at your municipality, but your groups give no access to Lindra. "
        "Ask your Lindra administrator to give one of your groups access.",
        "no_district": "Your groups give a nurse's access, but no district. Ask your Lindra administrator.",
        "disabled": "Your access to Lindra has been stopped. Ask your Lindra administrator.",
        "email_taken": "Your e-mail address belongs to another Lindra account. Ask your Lindra administrator.",
        "cancelled": "The sign-in at your municipality was cancelled. Try again.",
        "failed": "The answer from your municipality's sign-in could not be accepted. Try again.",
        "back": "Back to sign-in",
    },
}


def refusal_page(refusal: Refusal, accept_language: str) -> str:
    """The page's HTML; `refusal.reason` may also be "cancelled" (at the provider) or "failed" (its
    answer did not pass Lindra's checks, or came for no sign-in begun in this browser)."""
    texts = TEXTS["en" if accept_language.lower().startswith("en") else "da"]
    lang = "en" if texts is TEXTS["en"] else "da"
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(texts["title"])}</title>'
        '<link rel="stylesheet" href="/board/board.css"></head>'
        f'<body><main class="login"><section class="login-form"><h2 id="refusal-title">{escape(texts["title"])}</h2>'
        f'<p id="refusal-reason" class="refusal-reason" data-reason="{escape(refusal.reason)}">'
        f"{escape(texts[refusal.reason])}</p>"
        f'<a class="btn btn-primary" href="/board">{escape(texts["back"])}</a></section></main></body></html>'
    )
