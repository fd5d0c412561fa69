"""The ``livemarket`` command line: serve, migrate, demo, create-user."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from datetime import date

from livemarket.config import Settings, SettingsError, load_settings
from livemarket.config.secret import ensure_secret_key
from livemarket.errors import DomainError
from livemarket.storage.base import utcnow
from livemarket.storage.engine import engine_for, session_factory
from livemarket.storage.migrate import upgrade
from livemarket.web.logging import configure_logging
from livemarket.web.serving import run_server
from livemarket.web.workers import ListenError, bind_server, url_host

DESCRIPTION = """LiveMarket: a live-commerce streaming and sales orchestrator.
Settings come from LIVEMARKET_* environment variables (and an optional TOML file
named by LIVEMARKET_CONFIG); see the README for the list."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livemarket", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the web server",
        description="Run the server. On the embedded SQLite database it migrates the schema "
        "first. With --demo it seeds the K-MAS demo season into an empty database and prints "
        "the demo operator and host accounts.",
    )
    serve.add_argument("--host", help="address to listen on (default: LIVEMARKET_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default: LIVEMARKET_PORT)")
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes sharing the port (default: LIVEMARKET_WORKERS, 1); more than "
        "one needs LIVEMARKET_REDIS_URL, and worker i also listens on its own port "
        "(LIVEMARKET_WORKER_BASE_PORT + i, by default port + 1 + i) for media",
    )
    serve.add_argument("--demo", action="store_true", help="seed the demo season when empty")
    serve.add_argument(
        "--season-start",
        type=date.fromisoformat,
        metavar="DATE",
        help="with --demo: first day of the season (default: placed so a special is live now)",
    )

    commands.add_parser(
        "migrate",
        help="apply database migrations",
        description="Bring the configured database (LIVEMARKET_DATABASE_URL or the embedded "
        "SQLite file) up to the current schema with Alembic.",
    )

    demo = commands.add_parser(
        "demo",
        help="seed the K-MAS demo season",
        description="Seed 100 products, hosts, partner platforms and 60 specials over nine "
        "days. Seeding twice adds nothing. Migrates first.",
    )
    demo.add_argument(
        "--season-start",
        type=date.fromisoformat,
        metavar="DATE",
        help="first day of the nine-day season, e.g. 2021-12-18 (default: placed so that one "
        "special is live now)",
    )

    create_user = commands.add_parser(
        "create-user",
        help="create an operator or host account",
        description="Create an account that logs in with a password. Hosts also get a WHIP "
        "stream key. Without --password the password is asked for.",
    )
    create_user.add_argument("--role", required=True, choices=["operator", "host"])
    create_user.add_argument("--username", required=True)
    create_user.add_argument("--password", help="at least 8 characters (prompted if omitted)")
    create_user.add_argument("--display-name", help="name shown in chat and on pages")

    set_password = commands.add_parser(
        "set-password",
        help="give an account a new password (its sessions end)",
        description="Replace an account's password; every session it has ends on every "
        "instance within seconds. Without --password the password is asked for.",
    )
    set_password.add_argument("--username", required=True)
    set_password.add_argument("--password", help="the new password (prompted if omitted)")

    disable_user = commands.add_parser(
        "disable-user",
        help="stop an account: no login, no streaming, its sessions end",
        description="Disable an account: it can no longer log in, its stream key stops "
        "working, and every session it has ends on every instance within seconds.",
    )
    disable_user.add_argument("--username", required=True)
    return parser


async def _seed(settings: Settings, season_start: date | None) -> str:
    """Seed the demo season; the report (with the demo logins) to show the person."""
    from livemarket.demo.seed import seed_demo_season

    engine = engine_for(settings)
    try:
        report = await seed_demo_season(
            session_factory(engine),
            zone=settings.zone,
            now=utcnow(),
            season_start=season_start,
            data_dir=settings.data_dir,
            discount_cap_pct=settings.discount_cap_pct,
        )
    finally:
        await engine.dispose()
    return report.describe()


async def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    from livemarket.accounts.service import create_user

    password = args.password or getpass.getpass("Password: ")
    engine = engine_for(settings)
    try:
        user = await create_user(
            session_factory(engine),
            username=args.username,
            password=password,
            role=args.role,
            display_name=args.display_name,
        )
    finally:
        await engine.dispose()
    print(f"created {user.role} {user.username!r} (id {user.id})")


async def _change_account(settings: Settings, args: argparse.Namespace) -> None:
    """``set-password`` or ``disable-user``: one write that also revokes the sessions."""
    from livemarket.accounts.service import change_password, disable_user

    password = ""
    if args.command == "set-password":
        password = args.password or getpass.getpass("New password: ")
    engine = engine_for(settings)
    try:
        async with session_factory(engine).begin() as db:
            if args.command == "set-password":
                user = await change_password(db, args.username, password)
            else:
                user = await disable_user(db, args.username, utcnow())
    finally:
        await engine.dispose()
    done = "new password for" if args.command == "set-password" else "disabled"
    print(f"{done} {user.username!r}; its sessions are revoked")


def _migrate(settings: Settings) -> None:
    """Bring the configured database to head, creating the data folder for SQLite."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """Bind, migrate (SQLite) and seed (``--demo``) once, then serve in one or N processes.

    One process binds its port before anything else, so a taken port or an unknown host
    is one line on stderr (exit 1), never a traceback after a banner. The banner, with
    the demo logins, is printed once the server has started: after the start-up logs,
    where a person at a terminal sees it last.
    """
    try:
        listeners = bind_server(settings) if settings.workers == 1 else []
    except ListenError as exc:
        print(f"livemarket: {exc}", file=sys.stderr)
        return 1
    try:
        if not settings.database_url:
            _migrate(settings)
        seeded = asyncio.run(_seed(settings, args.season_start)) if args.demo else ""
    except BaseException:
        for sock in listeners:
            sock.close()
        raise
    if settings.workers == 1:
        port = listeners[0].getsockname()[1]
        banner = f"LiveMarket on http://{url_host(settings.host)}:{port}/"
        run_server(settings, listeners, banner="\n".join(filter(None, [seeded, banner])))
        return 0
    if seeded:
        print(seeded, flush=True)
    from livemarket.web.restarts import CrashLoop
    from livemarket.web.workers import serve_workers

    # Made here, before any worker reads it: workers racing to create it could each
    # read a half-written file and sign sessions with keys the others reject.
    ensure_secret_key(settings)
    try:
        return serve_workers(settings)
    except (ListenError, CrashLoop) as exc:
        print(f"livemarket: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; settings errors and rule violations exit 2 with a message."""
    args = _parser().parse_args(argv)
    overrides = {}
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["port"] = args.port
    if getattr(args, "workers", None) is not None:
        overrides["workers"] = args.workers
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"livemarket: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "serve":
            return _serve(settings, args)
        elif args.command == "migrate":
            _migrate(settings)
            print("database is at the current schema")
        elif args.command == "demo":
            _migrate(settings)
            print(asyncio.run(_seed(settings, args.season_start)))
        elif args.command == "create-user":
            asyncio.run(_create_user(settings, args))
        elif args.command in ("set-password", "disable-user"):
            asyncio.run(_change_account(settings, args))
    except DomainError as exc:
        print(f"livemarket: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    return 0
