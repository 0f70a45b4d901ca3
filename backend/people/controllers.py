"""HTTP routes for people and auth: parse, call one service function, return its schema."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.datastructures import CacheControlHeader, State
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import Clock
from backend.idempotency import Write
from backend.people import auth, codes, enrolment, service
from backend.people import schemas as s
from backend.people.actor import PUBLIC, Actor
from backend.people.models import Role
from backend.people.throttle import client_address

EVERYONE = frozenset(Role)
ADMINS = frozenset({Role.ADMIN})
# Token answers must never be kept by a cache (RFC 6749 §5.1).
NO_STORE = CacheControlHeader(no_store=True)


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post(
        "/login",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="Log in with e-mail and password; signs in this device",
    )
    async def login(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, state: State, data: s.LoginIn
    ) -> s.TokenOut:
        return await auth.login(db, state.sessions, state.settings, clock.now(), data, client_address(request))

    @post(
        "/refresh",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="Swap the refresh token for new tokens (each refresh token works once; send the device key)",
    )
    async def refresh(self, db: AsyncSession, clock: Clock, state: State, data: s.RefreshIn) -> s.TokenOut:
        return await auth.refresh(db, state.sessions, state.settings, state.oidc, clock.now(), data)

    @post(
        "/password",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="Choose my own password with the one-time code I was mailed; signs in this device",
    )
    async def choose_password(self, db: AsyncSession, clock: Clock, state: State, data: s.PasswordSetIn) -> s.TokenOut:
        return await codes.redeem(db, state.sessions, state.settings, clock.now(), data)

    @post(
        "/second-factor/enrol",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="Set up my authenticator app: a new secret, shown once (admins and coordinators)",
    )
    async def enrol_second_factor(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, state: State, data: s.SecondFactorEnrolIn
    ) -> s.SecondFactorEnrolment:
        return await enrolment.enrol(db, state.sessions, state.settings, clock.now(), data, client_address(request))

    @post(
        "/second-factor/confirm",
        opt={"roles": PUBLIC},
        status_code=200,
        cache_control=NO_STORE,
        security=[],
        summary="Confirm my authenticator app with its first code: recovery codes, shown once; signs in this device",
    )
    async def confirm_second_factor(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        clock: Clock,
        state: State,
        data: s.SecondFactorConfirmIn,
    ) -> s.SecondFactorConfirmed:
        return await enrolment.confirm(db, state.sessions, state.settings, clock.now(), data, client_address(request))

    @post("/logout", opt={"roles": EVERYONE}, status_code=204, summary="Sign out this device")
    async def logout(self, db: AsyncSession, actor: Actor, clock: Clock) -> None:
        await auth.logout(db, actor, clock.now())


class MeController(Controller):
    path = "/me"
    tags = ["me"]

    @get("/", opt={"roles": EVERYONE}, summary="Who I am: role, organisation, districts")
    async def me(self, db: AsyncSession, actor: Actor) -> s.MeOut:
        return await service.profile(db, actor)

    @get("/devices", opt={"roles": EVERYONE}, summary="Where I am signed in")
    async def devices(
        self, db: AsyncSession, actor: Actor, clock: Clock, include_revoked: bool = False
    ) -> list[s.DeviceOut]:
        return await service.list_devices(db, actor, clock.now(), include_revoked)

    @post(
        "/devices/{device_id:uuid}/revoke",
        opt={"roles": EVERYONE},
        status_code=200,
        summary="Sign out one of my devices (the lost phone)",
    )
    async def revoke_device(self, write: Write, clock: Clock, device_id: uuid.UUID) -> s.DeviceOut:
        return await write.once(
            None, s.DeviceOut, lambda: service.revoke_own_device(write.db, write.actor, clock.now(), device_id)
        )

    @put(
        "/devices/current/push-token",
        opt={"roles": EVERYONE},
        summary="Set (or clear, with null) this device's push token",
    )
    async def set_push_token(self, write: Write, data: s.PushTokenIn) -> s.DeviceOut:
        return await write.once(
            data, s.DeviceOut, lambda: service.set_push_token(write.db, write.actor, data.push_token)
        )


class AdminUserController(Controller):
    path = "/admin/users"
    tags = ["admin"]

    @get("/", opt={"roles": ADMINS}, summary="The users of my municipality and its districts")
    async def list_users(self, db: AsyncSession, actor: Actor) -> list[s.UserOut]:
        return await service.list_users(db, actor)

    @get("/{user_id:uuid}", opt={"roles": ADMINS}, summary="One user I manage, with her whole mobile number")
    async def get_user(self, db: AsyncSession, actor: Actor, user_id: uuid.UUID) -> s.UserOut:
        return await service.get_user(db, actor, user_id)

    @post("/", opt={"roles": ADMINS}, summary="Create a user; she is mailed a code to choose her own password")
    async def create_user(self, write: Write, clock: Clock, state: State, data: s.UserCreate) -> s.UserOut:
        return await write.once(
            data, s.UserOut, lambda: codes.invite(write.db, write.actor, state.settings, clock.now(), data)
        )

    @patch("/{user_id:uuid}", opt={"roles": ADMINS}, summary="Change a user; fields left out stay as they are")
    async def update_user(self, write: Write, user_id: uuid.UUID, data: s.UserUpdate) -> s.UserOut:
        return await write.once(data, s.UserOut, lambda: service.update_user(write.db, write.actor, user_id, data))

    @delete(
        "/{user_id:uuid}",
        opt={"roles": ADMINS},
        status_code=200,
        summary="Delete a user: she can no longer log in and is signed out everywhere",
    )
    async def delete_user(self, write: Write, clock: Clock, user_id: uuid.UUID) -> s.UserOut:
        return await write.once(
            None, s.UserOut, lambda: service.delete_user(write.db, write.actor, clock.now(), user_id)
        )

    @post(
        "/{user_id:uuid}/password-reset",
        opt={"roles": ADMINS},
        status_code=200,
        summary="Reset a user's password: she is signed out everywhere and mailed a code to choose a new one",
    )
    async def reset_password(self, write: Write, clock: Clock, state: State, user_id: uuid.UUID) -> s.CodeSent:
        return await write.once(
            None, s.CodeSent, lambda: codes.reset(write.db, write.actor, state.settings, clock.now(), user_id)
        )

    @post(
        "/{user_id:uuid}/devices/revoke",
        opt={"roles": ADMINS},
        status_code=200,
        summary="Sign a user out on every device",
    )
    async def revoke_devices(self, write: Write, clock: Clock, user_id: uuid.UUID) -> s.DevicesRevoked:
        return await write.once(
            None, s.DevicesRevoked, lambda: service.revoke_user_devices(write.db, write.actor, clock.now(), user_id)
        )


class SignInSettingsController(Controller):
    path = "/admin/sign-in"
    tags = ["admin"]

    @get("/", opt={"roles": ADMINS}, summary="Whether my organisation's people may sign in with a Lindra password")
    async def sign_in_settings(self, db: AsyncSession, actor: Actor) -> s.SignInSettings:
        return await enrolment.sign_in_settings(db, actor)

    @put(
        "/",
        opt={"roles": ADMINS},
        summary="Allow Lindra passwords (admins and coordinators add a code) or switch them off for my organisation",
    )
    async def set_sign_in_settings(self, write: Write, clock: Clock, data: s.SignInSettingsIn) -> s.SignInSettings:
        return await write.once(
            data, s.SignInSettings, lambda: enrolment.set_sign_in_settings(write.db, write.actor, clock.now(), data)
        )


class OrganisationController(Controller):
    path = "/organisations"
    tags = ["organisations"]

    @get("/", opt={"roles": EVERYONE}, summary="My municipality, its districts and the palliative teams serving it")
    async def organisations(self, db: AsyncSession, actor: Actor) -> list[s.OrganisationOut]:
        return await service.organisations(db, actor)


class StaffController(Controller):
    path = "/staff"
    tags = ["organisations"]

    @get("/", opt={"roles": EVERYONE}, summary="The colleagues of my organisations, with role and districts")
    async def staff(self, db: AsyncSession, actor: Actor) -> list[s.StaffOut]:
        return await service.staff(db, actor)


PEOPLE_CONTROLLERS: list[type] = [
    AuthController,
    MeController,
    AdminUserController,
    SignInSettingsController,
    OrganisationController,
    StaffController,
]
