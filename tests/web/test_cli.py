"""The command line: help for every subcommand, migrate, create-user, and settings errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from livemarket.accounts.service import authenticate
from livemarket.config import load_settings
from livemarket.storage.engine import engine_for, session_factory
from livemarket.web.cli import main


@pytest.mark.parametrize("command", ["serve", "migrate", "demo", "create-user"])
def test_every_subcommand_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``livemarket COMMAND --help`` prints a description of what the command does."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"livemarket {command}" in out and len(out.splitlines()) > 4


def test_migrate_then_create_user_who_can_log_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``migrate`` builds the embedded database and ``create-user`` adds a working account."""
    monkeypatch.setenv("LIVEMARKET_DATA_DIR", str(tmp_path))
    assert main(["migrate"]) == 0
    assert (tmp_path / "livemarket.sqlite3").exists()
    args = [
        "create-user",
        "--role",
        "operator",
        "--username",
        "olivia",
        "--password",
        "s3cret-pass",
    ]
    assert main(args) == 0
    assert "created operator 'olivia'" in capsys.readouterr().out
    assert main(args) == 2  # the same username again is refused
    assert "username_taken" in capsys.readouterr().err

    async def check() -> bool:
        engine = engine_for(load_settings({}, data_dir=tmp_path))
        try:
            async with session_factory(engine)() as db:
                return await authenticate(db, "olivia", "s3cret-pass") is not None
        finally:
            await engine.dispose()

    assert asyncio.run(check())


def test_short_password_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A password under eight characters is refused with its error code."""
    monkeypatch.setenv("LIVEMARKET_DATA_DIR", str(tmp_path))
    assert main(["migrate"]) == 0
    code = main(["create-user", "--role", "host", "--username", "h", "--password", "short"])
    assert code == 2
    assert "password_too_short" in capsys.readouterr().err


def test_bad_setting_stops_with_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid LIVEMARKET_* value exits 2 naming the variable."""
    monkeypatch.setenv("LIVEMARKET_PORT", "not-a-port")
    assert main(["migrate"]) == 2
    assert "LIVEMARKET_PORT" in capsys.readouterr().err


def test_demo_seeds_a_fresh_data_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``livemarket demo`` creates the folder, migrates, seeds, and prints the demo logins."""
    data = tmp_path / "not-yet"
    monkeypatch.setenv("LIVEMARKET_DATA_DIR", str(data))
    assert main(["demo", "--season-start", "2021-12-18"]) == 0
    first = capsys.readouterr().out
    assert "demo-operator" in first and "demo-host" in first
    assert main(["demo", "--season-start", "2021-12-18"]) == 0
    assert "demo-operator" in capsys.readouterr().out
