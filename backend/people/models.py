"""Organisations, users, their districts and devices, one-time password codes, the failed-login throttle,
the second factor (TOTP and recovery codes) and the SAML assertions already seen."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, and_, func, text
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


class PasswordSignIn(enum.StrEnum):
    """Whether an organisation's people may sign in with a local password (set on the municipality,
    a palliative unit or a team; a district follows its municipality)."""

    SECOND_FACTOR = "second_factor"  # passwords; admins and coordinators add a TOTP code
    OFF = "off"  # only the municipality's identity provider
    # Passwords alone, even for admins: only the demo loader and the tests' data set it (their
    # passwords are published); no endpoint can.
    PASSWORD_ALONE = "password_alone"


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (enum_check("kind", OrganisationKind), enum_check("password_sign_in", PasswordSignIn))

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    # A district's municipality; empty for the others.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    password_sign_in: Mapped[str] = mapped_column(
        String(16), default=PasswordSignIn.SECOND_FACTOR.value, server_default=PasswordSignIn.SECOND_FACTOR.value
    )
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
    # Empty until the user chooses a password with a one-time code (an invitation, a reset).
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # The password was not chosen by the user (set by an administrator before codes existed):
    # the next sign-in must choose a new one.
    password_change_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    # The work mobile in E.164 (backend.people.mobile): where an unconfirmed alert is sent by SMS,
    # and the only number whose SMS reply acknowledges for her.
    mobile: Mapped[str | None] = mapped_column(String(16))
    # Nurses trained in basic palliation; the alert roster prefers them at night.
    palliative_skilled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    language: Mapped[str] = mapped_column(String(2), default="da", server_default="da")
    # The TOTP secret (RFC 6238, base32), sealed with the service's key (backend.people.federation.sealed);
    # set at enrolment, in force once a first code confirmed it.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The time step of the last code accepted: a code of that step or earlier never works again.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An administrator stopped her (she left, or is on leave): no sign-in and no refresh until
    # enabled again; unlike a deletion it can be undone.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()


# Neither deleted nor disabled: a person who may be rostered, called by an alert and answer it.
# (In plain SQL: `deleted_at IS NULL AND disabled_at IS NULL`.)
USER_ACTIVE = and_(User.deleted_at.is_(None), User.disabled_at.is_(None))


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
    # Hash of the secret the app made at login and keeps: proves a refresh comes from this phone.
    # Empty for apps that send none (older versions).
    device_key_hash: Mapped[str | None] = mapped_column(String(64))
    # The hash of the refresh token this one replaced: presenting it again means it was stolen.
    previous_refresh_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    refresh_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = now_column()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(64))


class RotatedRefreshToken(Base):
    """A refresh token a device swapped already (hashed): its family. Presented again, it was stolen."""

    __tablename__ = "rotated_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    rotated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CodePurpose(enum.StrEnum):
    INVITE = "invite"  # a new user's first password
    RESET = "reset"  # an administrator started a reset: the old password and sessions are gone


class PasswordCode(Base):
    """A one-time code, mailed to the user only, with which she chooses her own password."""

    __tablename__ = "password_codes"
    __table_args__ = (enum_check("purpose", CodePurpose),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = now_column()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when redeemed, or when a newer code for the same user replaced it.
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LoginThrottle(Base):
    """Failed logins per e-mail and client address, and per e-mail alone (hashed: no addresses in it)."""

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecoveryCode(Base):
    """A code that stands in for the TOTP code once (the phone with the authenticator is lost); hashed."""

    __tablename__ = "recovery_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SamlAssertionSeen(Base):
    """A SAML assertion already used to sign in (its issuer and id, hashed), kept until it expires:
    the same assertion presented again is a replay."""

    __tablename__ = "saml_assertions_seen"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
