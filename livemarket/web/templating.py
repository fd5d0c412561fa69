"""Jinja2 for the pages: one environment per app, and ``render`` with the common context.

Autoescaping is on for every template whatever its name, so user text (titles,
nicknames, chat) is always escaped; data for scripts goes through ``|tojson``
into a ``<script type="application/json">`` block, never into inline JS.
Every page gets ``lang``, ``t`` (translate), ``csrf_token``, ``principal``,
``user`` (the logged-in user or ``None``), ``static_url`` and ``bootstrap``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from livemarket.config import Settings
from livemarket.web import i18n
from livemarket.web.auth import csrf_token_of, ensure_viewer_session, principal
from livemarket.web.cors import CorsPolicy
from livemarket.web.typedefs import (
    CSP_KEY,
    I18N_KEY,
    JINJA_KEY,
    SETTINGS_KEY,
    STATIC_VERSIONS_KEY,
)

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/"

#: Pages carry a CSRF token and per-person data: never cached, never framed. Scripts come
#: only from our own files, so a script smuggled into user text could not run even if
#: escaping ever failed.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Vary": "Accept-Language, Cookie",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
    "connect-src {connect}; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def content_security_policy(settings: Settings) -> str:
    """The pages' CSP: scripts may connect to this origin and the instances CORS allows.

    Scale-out's WHEP ``307`` sends the player to another instance's origin, which
    the browser may only fetch when ``connect-src`` names it.
    """
    connect = " ".join(["'self'", *sorted(CorsPolicy.from_settings(settings).origins)])
    return _CSP.format(connect=connect)


def static_versions(directory: Path = STATIC_DIR) -> dict[str, str]:
    """A short content hash per static file (read once at start) for cache-busting URLs."""
    versions: dict[str, str] = {}
    if directory.is_dir():
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
                versions[path.relative_to(directory).as_posix()] = digest
    return versions


def create_environment(template_dir: Path = TEMPLATE_DIR) -> jinja2.Environment:
    """The pages' environment: autoescape everywhere, templates cached after first load."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["krw"] = i18n.format_krw
    return env


def setup(app: web.Application) -> None:
    """Store the environment, the catalogs and the static hashes on the app (once)."""
    if JINJA_KEY in app:
        return
    app[JINJA_KEY] = create_environment()
    app[I18N_KEY] = i18n.load_catalogs()
    app[STATIC_VERSIONS_KEY] = static_versions()
    app[CSP_KEY] = content_security_policy(app[SETTINGS_KEY])


def language(request: web.Request) -> str:
    """The request's page language: ``lang`` cookie, else Accept-Language, else Korean."""
    return i18n.negotiate(
        request.cookies.get(i18n.LANG_COOKIE), request.headers.get("Accept-Language")
    )


def translator(request: web.Request) -> i18n.Translator:
    return i18n.Translator(language(request), request.app[I18N_KEY])


def _static_url_for(versions: Mapping[str, str]) -> Any:
    def static_url(path: str) -> str:
        version = versions.get(path)
        url = STATIC_PREFIX + path
        return f"{url}?v={version}" if version else url

    return static_url


def _as_datetime(moment: datetime | str) -> datetime:
    # Contract-shaped dicts carry ISO strings; ORM rows carry datetimes.
    return moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)


async def render(
    request: web.Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> web.Response:
    """Render ``template`` with the common context plus ``context``; HTML response.

    The visitor gets a viewer session (and so a CSRF token) on first page view, so
    every page's scripts can make state-changing calls. ``context["bootstrap"]``
    entries are merged into the page's JSON bootstrap.
    """
    session = await ensure_viewer_session(request)
    who = await principal(request)
    t = translator(request)
    settings = request.app[SETTINGS_KEY]
    versions = request.app[STATIC_VERSIONS_KEY]
    zone = settings.zone
    csrf_token = csrf_token_of(session)
    extra = dict(context or {})
    bootstrap: dict[str, Any] = {
        "lang": t.lang,
        "csrf_token": csrf_token,
        "timezone": settings.timezone,
    }
    bootstrap.update(extra.pop("bootstrap", {}))

    def local_time(moment: datetime | str) -> str:
        return i18n.local_time(_as_datetime(moment), zone)

    def local_day(moment: datetime | str) -> str:
        return t.date(i18n.local_date(_as_datetime(moment), zone))

    values: dict[str, Any] = {
        "lang": t.lang,
        "t": t,
        "csrf_token": csrf_token,
        "principal": who,
        "user": who if who.user_id is not None else None,
        "static_url": _static_url_for(versions),
        "static_exists": versions.__contains__,
        "local_time": local_time,
        "local_day": local_day,
        "local_name": functools.partial(i18n.local_name, t.lang),
        "request_path": request.path_qs,
        "bootstrap": bootstrap,
    }
    values.update(extra)
    body = request.app[JINJA_KEY].get_template(template).render(values)
    response = web.Response(text=body, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Security-Policy"] = request.app[CSP_KEY]
    response.headers["Content-Language"] = t.lang
    return response
