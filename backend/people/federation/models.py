"""A municipality's OpenID provider, its group mapping, the people it vouches for, and sign-ins under way."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, now_column, uuid_pk


class OidcProvider(Base):
    """One municipality's OpenID provider (Entra ID, say): where its staff sign in."""

    __tablename__ = "oidc_providers"

    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(200))
    # Sealed with the service's key (backend.people.federation.sealed); never answered.
    client_secret_sealed: Mapped[str] = mapped_column(String(2000))
    scopes: Mapped[str] = mapped_column(String(500))
    updated_at: Mapped[datetime] = now_column()


class FederationMapping(Base):
    """A provider's group or role claim (or data restriction) and what it means in Lindra.

    A row with no role only adds districts (a data restriction); a person needs at least one
    row with a role to get in."""

    __tablename__ = "federation_mappings"
    __table_args__ = (
        UniqueConstraint("municipality_id", "provider", "claim", name="uq_federation_mappings_claim_once"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    provider: Mapped[str] = mapped_column(String(8))
    claim: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(32))
    district_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default="{}")
    created_at: Mapped[datetime] = now_column()


class FederatedLink(Base):
    """The provider's stable id for a person, and the Lindra user it is."""

    __tablename__ = "federated_links"
    __table_args__ = (
        UniqueConstraint("municipality_id", "provider", "subject", name="uq_federated_links_subject_once"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    provider: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(255))
    # The assurance level the provider stated at the last sign-in (NSIS), if it states one.
    assurance: Mapped[str | None] = mapped_column(String(32))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FederatedDevice(Base):
    """A device signed in through the provider: the provider's session (for its back-channel
    logout) and its refresh token (sealed), with which every refresh asks whether she is still active."""

    __tablename__ = "federated_devices"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    link_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("federated_links.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(255), index=True)
    refresh_token_sealed: Mapped[str | None] = mapped_column(String(8000))


class SignInAttempt(Base):
    """A sign-in sent to the provider and not yet back: what the answer must match.

    Found by the hash of its `state` (SAML: of its AuthnRequest id); bound to the browser by a
    cookie (its hash) or to the app by its device key (its hash). Used once: a replayed answer
    finds it used."""

    __tablename__ = "sign_in_attempts"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    client: Mapped[str] = mapped_column(String(8))  # "board" or "app"
    # "oidc", or "saml" (no nonce: the assertion answers the AuthnRequest; the app's PKCE stays).
    protocol: Mapped[str] = mapped_column(String(8), default="oidc", server_default="oidc")
    binding_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    code_challenge: Mapped[str] = mapped_column(String(64))
    # The board's PKCE verifier, kept here (the app keeps its own and sends it with the code).
    code_verifier: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # The board's answer came back and was good: whom it signed in, until the board collects her tokens.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    link_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("federated_links.id", ondelete="CASCADE"))
    session_id: Mapped[str | None] = mapped_column(String(255))
    refresh_token_sealed: Mapped[str | None] = mapped_column(String(8000))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # SAML, the app: the hash of the one-time code the ACS sent the app back with, to swap once.
    code_hash: Mapped[str | None] = mapped_column(String(64))
