"""The server's secret key: given in settings, or generated once into the data folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from livemarket.config.settings import Settings

SECRET_FILE = "secret.key"


def ensure_secret_key(settings: Settings) -> bytes:
    """Return the secret key, creating ``<data_dir>/secret.key`` (mode 0600) on first run.

    Never hard-coded: a key in settings wins, otherwise a random 256-bit key is
    written once and reused so sessions survive restarts.
    """
    if settings.secret_key:
        return settings.secret_key.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32).encode()
    # O_EXCL: if two processes race on first start, one wins and both read its key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key
