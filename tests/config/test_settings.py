"""Settings: environment over TOML, every bad value named, the secret key kept on disk."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from livemarket.config import SettingsError, load_settings
from livemarket.config.secret import ensure_secret_key


def test_defaults_are_the_embedded_mode(tmp_path: Path) -> None:
    """With nothing set, the server runs embedded on SQLite in Asia/Seoul with a 50% cap."""
    settings = load_settings({}, data_dir=tmp_path)
    assert settings.embedded
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.timezone == "Asia/Seoul"
    assert settings.discount_cap_pct == 50
    assert settings.capacity_per_special == 300


def test_environment_variables_are_read_and_typed() -> None:
    """LIVEMARKET_* variables set the matching settings, converted to their types."""
    settings = load_settings(
        {
            "LIVEMARKET_PORT": "9000",
            "LIVEMARKET_REDIS_URL": "redis://127.0.0.1:6379/0",
            "LIVEMARKET_ICE_HOST_ADDRESSES": "127.0.0.1, 10.0.0.2",
            "LIVEMARKET_SECURE_COOKIES": "true",
            "UNRELATED": "ignored",
        }
    )
    assert settings.port == 9000
    assert not settings.embedded
    assert settings.ice_host_addresses == ("127.0.0.1", "10.0.0.2")
    assert settings.secure_cookies is True


def test_the_test_suites_own_variables_are_not_settings() -> None:
    """``LIVEMARKET_TEST_*`` belong to the test suite (servers it starts inherit them);
    a misspelt setting next to them is still refused."""
    environ = {"LIVEMARKET_TEST_PYTHON2": "/usr/bin/python2.7", "LIVEMARKET_TEST_RTMP": "1"}
    assert load_settings(environ).port == 8080
    with pytest.raises(SettingsError, match="LIVEMARKET_TESTS"):
        load_settings({**environ, "LIVEMARKET_TESTS": "1"})


def test_unknown_environment_setting_is_named() -> None:
    """A misspelt variable stops start-up with its name instead of being ignored."""
    with pytest.raises(SettingsError, match="LIVEMARKET_DATABSE_URL"):
        load_settings({"LIVEMARKET_DATABSE_URL": "x"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LIVEMARKET_PORT", "eighty"),
        ("LIVEMARKET_PORT", "70000"),
        ("LIVEMARKET_TIMEZONE", "Mars/Olympus"),
        ("LIVEMARKET_DISCOUNT_CAP_PCT", "60"),
        ("LIVEMARKET_DATABASE_URL", "mysql://x"),
        ("LIVEMARKET_REDIS_URL", "http://x"),
        ("LIVEMARKET_CAPACITY_PER_SPECIAL", "0"),
    ],
)
def test_invalid_value_is_named(name: str, value: str) -> None:
    """Each invalid value is refused with the variable's name in the message."""
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


def test_toml_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    """The TOML file supplies settings; the environment overrides it."""
    config = tmp_path / "livemarket.toml"
    config.write_text('[livemarket]\nport = 7000\nhost = "0.0.0.0"\n')
    settings = load_settings({"LIVEMARKET_CONFIG": str(config), "LIVEMARKET_PORT": "7001"})
    assert settings.host == "0.0.0.0"
    assert settings.port == 7001


def test_unknown_toml_key_is_named(tmp_path: Path) -> None:
    """An unknown key in the TOML file is refused with the key and the file named."""
    config = tmp_path / "livemarket.toml"
    config.write_text("[livemarket]\nprot = 7000\n")
    with pytest.raises(SettingsError, match="prot"):
        load_settings({"LIVEMARKET_CONFIG": str(config)})


def test_invalid_toml_value_names_the_file(tmp_path: Path) -> None:
    """A bad value in the TOML file names the setting and the file."""
    config = tmp_path / "livemarket.toml"
    config.write_text('[livemarket]\nport = "x"\n')
    with pytest.raises(SettingsError, match=r"port \(in .*livemarket.toml\)"):
        load_settings({"LIVEMARKET_CONFIG": str(config)})


def test_secret_key_generated_once_and_private(tmp_path: Path) -> None:
    """The secret key is generated on first run, kept with mode 0600, and reused."""
    settings = load_settings({}, data_dir=tmp_path)
    first = ensure_secret_key(settings)
    second = ensure_secret_key(settings)
    assert first == second and len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600


def test_secret_key_from_settings_wins(tmp_path: Path) -> None:
    """A key given in settings is used and nothing is written."""
    settings = load_settings({"LIVEMARKET_SECRET_KEY": "s" * 40}, data_dir=tmp_path)
    assert ensure_secret_key(settings) == b"s" * 40
    assert not (tmp_path / "secret.key").exists()
