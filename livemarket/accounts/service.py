"""Account operations: create users, check passwords, issue and look up stream keys."""

from __future__ import annotations

import hmac
import secrets
import unicodedata
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from livemarket.accounts.models import User
from livemarket.accounts.password_policy import check_new_password
from livemarket.accounts.passwords import hash_off_loop, verify_off_loop
from livemarket.accounts.roles import Role
from livemarket.errors import Conflict, DomainError, ErrorKind, NotFound

USERNAME_MAX = 40
DISPLAY_NAME_MAX = 40


def new_stream_key() -> str:
    """A fresh unguessable WHIP bearer token."""
    return secrets.token_urlsafe(24)


def validate_new_user(username: str, password: str, role: str) -> Role:
    """Refuse bad usernames, weak passwords and unknown roles before touching the database."""
    if (
        not username
        or len(username) > USERNAME_MAX
        or not username.isascii()
        or not all(c.isalnum() or c in "._-" for c in username)
    ):
        raise DomainError("username_invalid", "Usernames use 1-40 ASCII letters, digits, . _ -")
    check_new_password(password, username=username)
    if role not in (Role.OPERATOR, Role.HOST):
        raise DomainError("role_invalid", "The role is operator or host.")
    return Role(role)


def validate_display_name(raw: str) -> str:
    """A staff member's name as viewers see it: NFC, runs of spaces collapsed, 1 to
    ``DISPLAY_NAME_MAX`` characters, no control or invisible format characters.

    Markup characters are allowed (a name is text, escaped wherever it is shown);
    controls and format characters (bidi overrides, zero-width joiners) could disguise
    a name in chat, and an over-long one would fail in the database instead of here.
    """
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not 1 <= len(name) <= DISPLAY_NAME_MAX:
        raise DomainError(
            "display_name_invalid", f"A display name has 1 to {DISPLAY_NAME_MAX} characters."
        )
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in name):
        raise DomainError(
            "display_name_invalid", "A display name has no control or invisible characters."
        )
    return name


async def create_user(
    sessions: async_sessionmaker[AsyncSession],
    *,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
) -> User:
    """Create an operator or host; a host gets a stream key at once."""
    checked_role = validate_new_user(username, password, role)
    shown_as = validate_display_name(username if display_name is None else display_name)
    password_hash = await hash_off_loop(password)
    async with sessions.begin() as session:
        if await session.scalar(select(User.id).where(User.username == username)) is not None:
            raise Conflict("username_taken", f"The username {username!r} is taken.")
        user = User(
            username=username,
            display_name=shown_as,
            role=checked_role.value,
            password_hash=password_hash,
            stream_key=new_stream_key() if checked_role is Role.HOST else None,
        )
        session.add(user)
    return user


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    """The user when the password matches and the account is in use, else None (same cost)."""
    user = await session.scalar(select(User).where(User.username == username))
    if not await verify_off_loop(user.password_hash if user else None, password):
        return None
    return user if user is not None and user.disabled_at is None else None


async def session_generation(session: AsyncSession, user_id: int) -> int | None:
    """The generation a session of ``user_id`` must carry; None for a missing or disabled user."""
    row = (
        await session.execute(
            select(User.session_generation, User.disabled_at).where(User.id == user_id)
        )
    ).first()
    if row is None or row.disabled_at is not None:
        return None
    return int(row.session_generation)


async def _user_by_name(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("user_not_found", f"No user {username!r}.")
    return user


async def revoke_sessions(session: AsyncSession, user_id: int) -> None:
    """End every session of ``user_id`` (logout): the generation moves on."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_generation=User.session_generation + 1)
    )


async def change_password(session: AsyncSession, username: str, password: str) -> User:
    """A new password (the policy applies); every existing session of the user ends."""
    user = await _user_by_name(session, username)
    check_new_password(password, username=username)
    user.password_hash = await hash_off_loop(password)
    user.session_generation += 1
    return user


async def disable_user(session: AsyncSession, username: str, now: datetime) -> User:
    """Stop the account: no login, no stream key, and every existing session ends."""
    user = await _user_by_name(session, username)
    if user.disabled_at is None:
        user.disabled_at = now
    user.session_generation += 1
    user.stream_key = None
    return user


async def stream_key_of(session: AsyncSession, user_id: int) -> str:
    """The user's stream key, issuing one on first ask."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", "No such user.")
    if user.stream_key is None:
        user.stream_key = new_stream_key()
    return user.stream_key


async def renew_stream_key(session: AsyncSession, user_id: int) -> str:
    """Replace the user's stream key; the old one stops working at once."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user_not_found", "No such user.")
    user.stream_key = new_stream_key()
    return user.stream_key


async def user_by_stream_key(session: AsyncSession, stream_key: str) -> User:
    """The user owning ``stream_key``; a wrong key is ``unauthenticated``."""
    if not stream_key:
        raise DomainError(
            "stream_key_missing", "A stream key is required.", kind=ErrorKind.UNAUTHENTICATED
        )
    user = await session.scalar(select(User).where(User.stream_key == stream_key))
    # Constant-time compare on the found value guards against timing on the index lookup's result.
    if (
        user is None
        or user.stream_key is None
        or not hmac.compare_digest(user.stream_key, stream_key)
    ):
        raise DomainError(
            "stream_key_invalid", "The stream key is not valid.", kind=ErrorKind.UNAUTHENTICATED
        )
    return user


def generated_password() -> str:
    """A password for an operator to hand over once: 16 random URL-safe characters."""
    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            check_new_password(candidate)
        except DomainError:  # astronomically rare (e.g. too little variety): draw again
            continue
        return candidate


async def enable_user(session: AsyncSession, username: str) -> User:
    """Let a disabled account log in again (a host asks for a new stream key on first use)."""
    user = await _user_by_name(session, username)
    user.disabled_at = None
    return user


async def list_users(session: AsyncSession) -> list[User]:
    """Every account, hosts first, then by display name."""
    return list(await session.scalars(select(User).order_by(User.role, User.display_name, User.id)))


def user_to_dict(user: User) -> dict[str, object]:
    """An account as the console shows it (never its password hash or stream key)."""
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "disabled": user.disabled_at is not None,
        "created_at": user.created_at.isoformat(),
    }
