"""Sessions, the principal behind each request, and CSRF protection.

Sessions live in an encrypted cookie (Fernet via aiohttp-session; HttpOnly,
SameSite=Lax, Secure when ``secure_cookies``). A session holds the CSRF token,
the person's viewer key and nickname and, after login, the user's id and role.
Every state-changing request that carries the session cookie must echo the token
in ``X-CSRF-Token`` (or a ``csrf_token`` form field); requests without the cookie
carry no ambient authority, so they need none (WHIP uses a bearer key instead).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import warnings
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from aiohttp_session import Session, SessionData, get_session, new_session
from aiohttp_session import setup as setup_session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import InvalidToken

from livemarket.accounts.nicknames import random_nickname
from livemarket.accounts.roles import ANONYMOUS, Principal, Role
from livemarket.web import i18n
from livemarket.web.errors import error_response
from livemarket.web.revocation import GENERATIONS_KEY

# aiohttp-session keeps its own request state under string keys; ours use RequestKeys.
warnings.filterwarnings("ignore", category=web.NotAppKeyWarning, module="aiohttp_session")

COOKIE_NAME = "lm_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE = 30 * 24 * 3600
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PRINCIPAL = web.RequestKey("principal", Principal)


def csrf_exempt(handler: Handler) -> Handler:
    """Mark a handler that authenticates otherwise (a bearer key) or carries no authority."""
    handler.csrf_exempt = True  # type: ignore[attr-defined]
    return handler


#: How long a decrypted cookie is reused (never past the cookie's own expiry).
DECODED_TTL_S = 60.0
_DECODED_MAX = 20_000


class CachedCookieStorage(EncryptedCookieStorage):
    """The encrypted cookie storage, remembering recently decrypted cookies.

    A buyer sends the same cookie with every request; decrypting it (Fernet: HMAC,
    AES, base64, JSON) each time is a visible share of a cheap request. Only a
    cookie that decrypted before is found here (the key is its exact text), and an
    entry lives at most ``DECODED_TTL_S`` and never past the token's own ``max_age``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._decoded: dict[str, tuple[SessionData, float]] = {}

    def load_cookie(self, request: web.Request) -> str | None:
        # Only our cookie, not all of them (aiohttp's full parse is a visible cost).
        value = session_cookie(request)
        if value is not None and value.startswith('"'):
            # Fernet tokens end in "=", so the cookie is sent quoted; only an escape
            # inside the quotes needs aiohttp's full unquoting.
            if len(value) < 2 or not value.endswith('"') or "\\" in value:
                return super().load_cookie(request)
            value = value[1:-1]
        return value

    async def load_session(self, request: web.Request) -> Session:
        cookie = self.load_cookie(request)
        if cookie is None:
            return await super().load_session(request)
        now = time.time()
        known = self._decoded.get(cookie)
        if known is None or known[1] <= now:
            try:
                token = cookie.encode()
                data = self._decoder(self._fernet.decrypt(token, ttl=self.max_age).decode())
                until = now + DECODED_TTL_S
                if self.max_age is not None:
                    until = min(until, self._fernet.extract_timestamp(token) + self.max_age)
            except (InvalidToken, ValueError):
                return await super().load_session(request)  # logs it; a fresh session
            if len(self._decoded) >= _DECODED_MAX:
                self._decoded.clear()
            known = self._decoded[cookie] = (data, until)
        # Session copies the mapping, so the cached dict itself is never changed.
        return Session(None, data=known[0], new=False, max_age=self.max_age)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        await super().save_session(request, response, session)
        # A fresh viewer's next request (say, its first order) need not decrypt what
        # this one just encrypted.
        morsel = response.cookies.get(self.cookie_name)
        if session.empty or morsel is None or not morsel.value:
            return
        data: SessionData = {"created": session.created, "session": dict(session)}
        if len(self._decoded) >= _DECODED_MAX:
            self._decoded.clear()
        self._decoded[morsel.value] = (data, time.time() + DECODED_TTL_S)


def setup_sessions(app: web.Application, secret: bytes, *, secure: bool) -> None:
    """Install the encrypted-cookie session middleware, keyed from the server secret."""
    # Derived, not the secret itself: the secret key also signs other things.
    fernet_key = hashlib.sha256(b"livemarket-session:" + secret).digest()
    storage = CachedCookieStorage(
        fernet_key,
        cookie_name=COOKIE_NAME,
        httponly=True,
        samesite="Lax",
        secure=secure,
        max_age=SESSION_MAX_AGE,
    )
    setup_session_middleware(app, storage)


def session_cookie(request: web.Request) -> str | None:
    """The raw session cookie value, found without parsing every cookie of the request."""
    raw = request.headers.get(hdrs.COOKIE)
    if not raw or COOKIE_NAME not in raw:
        return None
    found = None
    for part in raw.split(";"):
        name, _sep, value = part.strip().partition("=")
        if name == COOKIE_NAME:
            found = value  # the last one wins, as in ``request.cookies``
    return found


def _principal_from(session: Session) -> Principal:
    viewer_key = session.get("viewer_key")
    if not viewer_key:
        return ANONYMOUS
    role = Role(session.get("role", Role.VIEWER.value))
    return Principal(
        role=role,
        viewer_key=viewer_key,
        nickname=session.get("nickname", ""),
        user_id=session.get("user_id"),
    )


async def principal(request: web.Request) -> Principal:
    """Who is asking (cached per request); anonymous when there is no session yet.

    A user's session counts only while it carries the user's current session
    generation (``livemarket.web.revocation``); a revoked one is dropped here.
    """
    if _PRINCIPAL in request:
        return request[_PRINCIPAL]
    session = await get_session(request)
    found = _principal_from(session)
    if found.user_id is not None:
        generations = request.app.get(GENERATIONS_KEY)
        if generations is not None and await generations.current(found.user_id) != session.get(
            "gen", 0
        ):
            session.invalidate()
            found = ANONYMOUS
    request[_PRINCIPAL] = found
    return found


async def ensure_viewer_session(request: web.Request) -> Session:
    """The session, given a viewer key, nickname and CSRF token if it has none yet."""
    session = await get_session(request)
    if not session.get("viewer_key"):
        session["viewer_key"] = "v:" + secrets.token_urlsafe(12)
        lang = i18n.negotiate(
            request.cookies.get(i18n.LANG_COOKIE), request.headers.get(hdrs.ACCEPT_LANGUAGE)
        )
        session["nickname"] = random_nickname(lang)
        session["role"] = Role.VIEWER.value
    if not session.get("csrf"):
        session["csrf"] = secrets.token_urlsafe(24)
    request.pop(_PRINCIPAL, None)
    return session


async def start_user_session(
    request: web.Request, *, user_id: int, role: str, display_name: str, generation: int
) -> Session:
    """A brand-new session for a logged-in user (fixation-safe: the old one is dropped)."""
    session = await new_session(request)
    session["user_id"] = user_id
    session["role"] = role
    session["viewer_key"] = f"user:{user_id}"
    session["nickname"] = display_name
    session["csrf"] = secrets.token_urlsafe(24)
    session["gen"] = generation
    request.pop(_PRINCIPAL, None)
    return session


def csrf_token_of(session: Session) -> str:
    return str(session.get("csrf", ""))


async def _presented_token(request: web.Request) -> str:
    token = request.headers.get(CSRF_HEADER, "")
    if not token and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get(CSRF_FIELD, "")
        token = value if isinstance(value, str) else ""
    return token


@web.middleware
async def csrf_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse an unsafe request made with the session cookie but without its CSRF token."""
    if request.method in _UNSAFE and session_cookie(request) is not None:
        match_handler: Any = request.match_info.handler
        if not getattr(match_handler, "csrf_exempt", False):
            session = await get_session(request)
            expected = csrf_token_of(session)
            if expected:
                presented = await _presented_token(request)
                if not hmac.compare_digest(presented.encode(), expected.encode()):
                    return error_response(
                        403, "csrf_failed", "Missing or wrong CSRF token (X-CSRF-Token)."
                    )
    return await handler(request)
