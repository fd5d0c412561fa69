"""Password hashing with Argon2id (argon2-cffi); verification never raises on bad input.

A hash costs about 0.2 s of CPU, so the async callers run it in a small pool of its
own (``hash_off_loop``/``verify_off_loop``): the event loop keeps serving, and a burst
of logins queues for two threads instead of taking every thread of the default pool.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

#: A hash of a random password, verified against when the user does not exist, so
#: a wrong username costs the same time as a wrong password (no user enumeration).
_DUMMY_HASH = _hasher.hash("livemarket-no-such-user")


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password`` with a fresh salt."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash still spends the same work."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


#: Two threads: enough to overlap two logins, few enough that a burst cannot starve the CPU.
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


async def hash_off_loop(password: str) -> str:
    """``hash_password`` in the hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(_HASHING, hash_password, password)


async def verify_off_loop(password_hash: str | None, password: str) -> bool:
    """``verify_password`` in the hashing pool."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_HASHING, verify_password, password_hash, password)
