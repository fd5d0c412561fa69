"""Product pictures: what an upload may be, and where it is kept.

A picture is accepted by its content, not its name or declared type: JPEG, PNG or WebP by
their signatures, at most ``MAX_IMAGE_BYTES``. Its file name carries a digest of its bytes,
so a URL never changes meaning and can be cached for good.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path

from livemarket.errors import DomainError

MAX_IMAGE_BYTES = 2 * 1024 * 1024
FOLDER = "product-images"
#: What a stored picture's name looks like (anything else is never served).
NAME = re.compile(r"^\d{1,12}-[0-9a-f]{16}\.(jpg|png|webp)$")
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


def sniff(data: bytes) -> str | None:
    """The picture's kind (``jpg``, ``png``, ``webp``) from its first bytes, or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def image_name(product_id: int, data: bytes) -> str:
    """The stored name of ``data`` as ``product_id``'s picture; refuses what is no picture."""
    if len(data) > MAX_IMAGE_BYTES:
        raise DomainError("image_too_large", f"A picture may be at most {MAX_IMAGE_BYTES} bytes.")
    kind = sniff(data)
    if kind is None:
        raise DomainError("image_unsupported", "Send a JPEG, PNG or WebP picture.")
    return f"{product_id}-{hashlib.sha256(data).hexdigest()[:16]}.{kind}"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    partial.write_bytes(data)
    os.replace(partial, path)  # a reader never sees half a picture


async def store(data_dir: Path, name: str, data: bytes) -> None:
    """Write the picture under ``<data_dir>/product-images/`` (off the event loop)."""
    await asyncio.to_thread(_write, data_dir / FOLDER / name, data)


def path_of(data_dir: Path, name: str) -> Path | None:
    """Where a stored picture is, or ``None`` for a name that cannot be one."""
    return data_dir / FOLDER / name if NAME.match(name) else None


def image_url(name: str | None) -> str | None:
    return None if name is None else f"/media/{FOLDER}/{name}"
