"""The person a municipality's identity provider vouches for, before Lindra decides what she may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class FederatedIdentity:
    """Who a municipality's identity provider says signed in; Lindra decides what she may do."""

    municipality_id: uuid.UUID
    provider: str  # "oidc" or "saml"
    subject: str  # the provider's stable id for the person (sub / NameID)
    email: str | None
    display_name: str | None
    groups: tuple[str, ...]  # group or role claims (SAML: job-function roles)
    districts: tuple[str, ...] = ()  # data restrictions from the provider, if any
    assurance: str | None = None  # NSIS level when the provider states it
