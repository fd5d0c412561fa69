"""The demo accounts' passwords, kept in ``<data_dir>/demo-credentials.json`` (mode 0600).

Passwords are random per installation (never in the source) and kept so that
start-up can print them every time and a second seed does not change them.
Blocking file calls: run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from livemarket.errors import DomainError

CREDENTIALS_FILE = "demo-credentials.json"
FILE_MODE = 0o600


class CredentialsFileError(DomainError):
    """The credentials file exists but cannot be used; the message names it."""

    def __init__(self, message: str) -> None:
        super().__init__("demo_credentials_unusable", message)


def new_password() -> str:
    """A fresh random password (16 URL-safe characters, about 96 bits)."""
    return secrets.token_urlsafe(12)


def read_credentials(path: Path) -> dict[str, str]:
    """Username → password from ``path``; empty when the file does not exist yet.

    A file readable by others is narrowed to 0600 on the way.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise CredentialsFileError(f"cannot read {path}: {exc.strerror}") from exc
    if path.stat().st_mode & 0o077:
        os.chmod(path, FILE_MODE)
    try:
        users = json.loads(text)["users"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CredentialsFileError(f"{path} is not a demo credentials file") from exc
    if not isinstance(users, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in users.items()
    ):
        raise CredentialsFileError(f"{path}: 'users' must map usernames to passwords")
    return users


def write_credentials(path: Path, users: dict[str, str]) -> None:
    """Replace ``path`` atomically with ``users``; the file is never readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps(
        {"note": "LiveMarket demo accounts; keep private.", "users": users},
        ensure_ascii=False,
        indent=2,
    )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
