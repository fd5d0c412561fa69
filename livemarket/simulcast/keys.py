"""Stream keys at rest: encrypted with a key derived from the server secret, never shown.

A stream key lets anyone broadcast on the partner's channel, so the database
only holds a Fernet token (AES-CBC + HMAC) and the last four characters an
operator needs to tell keys apart.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken

from livemarket.errors import DomainError


class StreamKeyBox:
    """Seals and opens stream keys; ``secret`` is the server's secret key."""

    def __init__(self, secret: bytes) -> None:
        # Derived, not the secret itself (which also keys the session cookies).
        derived = hashlib.sha256(b"livemarket-simulcast-key:" + secret).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, stream_key: str) -> str:
        return self._fernet.encrypt(stream_key.encode()).decode()

    def open(self, cipher: str) -> str:
        try:
            return self._fernet.decrypt(cipher.encode()).decode()
        except InvalidToken as exc:
            # The server secret changed since the key was saved: it must be entered again.
            raise DomainError(
                "stream_key_unreadable", "The stream key must be entered again."
            ) from exc


def tail(stream_key: str) -> str:
    """The last four characters, the only part of a key the API returns."""
    return stream_key[-4:]
