"""Organisations, users, their districts and devices, and the failed-login throttle."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.orm import Base, enum_check, now_column, uuid_pk


class OrganisationKind(enum.StrEnum):
    MUNICIPALITY = "municipality"
    DISTRICT = "district"  # a home-nursing area inside a municipality
    PALLIATIVE_TEAM = "palliative_team"  # the regional palliative team
    PALLIATIVE_UNIT = "palliative_unit"  # e.g. Afdeling for Lindring


class Role(enum.StrEnum):
    NURSE = "nurse"
    COORDINATOR = "coordinator"
    KEY_PERSON = "key_person"
    PALLIATIVE_UNIT = "palliative_unit"
    ADMIN = "admin"


class Platform(enum.StrEnum):
    IOS = "ios"
    ANDROID = "android"
    WEB = "web"


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (enum_check("kind", OrganisationKind),)

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    # A district's municipality; empty for the others.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = now_column()


class OrganisationServes(Base):
    """Which municipalities a palliative unit or regional palliative team serves."""

    __tablename__ = "organisation_serves"

    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    municipality_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        enum_check("role", Role),
        # One live account per e-mail; a deleted person's address can be given to a new account.
        Index(
            "uq_users_email_lower", func.lower(text("email")), unique=True, postgresql_where=text("deleted_at IS NULL")
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    # Nurses trained in basic palliation; the alert roster prefers them at night.
    palliative_skilled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    language: Mapped[str] = mapped_column(String(2), default="da", server_default="da")
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()


class UserDistrict(Base):
    __tablename__ = "user_districts"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    district_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)


class Device(Base):
    """A logged-in phone or browser. Its refresh token is stored only as a hash."""

    __tablename__ = "devices"
    __table_args__ = (enum_check("platform", Platform),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    platform: Mapped[str] = mapped_column(String(16))
    app_version: Mapped[str] = mapped_column(String(32))
    push_token: Mapped[str | None] = mapped_column(String(4096))
    refresh_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The hash of the refresh token this one replaced: presenting it again means it was stolen.
    previous_refresh_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    refresh_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(Base):
    """Failed logins per e-mail (hashed, so the table reveals no addresses), existing or not."""

    __tablename__ = "login_throttles"

    email_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
