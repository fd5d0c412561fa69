"""The settings object: ``LIVEMARKET_*`` variables over an optional TOML file.

This is the only module that reads the environment. Unknown names and invalid
values stop start-up with a :class:`SettingsError` that names the setting, so a
typo such as ``LIVEMARKET_DATABSE_URL`` is never silently ignored.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

ENV_PREFIX = "LIVEMARKET_"
#: Names under the prefix that are not settings themselves: the config file's path, and
#: ``LIVEMARKET_TEST_*``, which the test suite reads (servers it starts inherit them).
ENV_META = {"CONFIG"}
ENV_META_PREFIX = "TEST_"


#: Stand-ins in ``instance_url`` for a worker's number and its own port (several workers).
INSTANCE_URL_PLACEHOLDERS = ("{worker}", "{port}")
#: Hosts that mean "every interface": no address a browser could be redirected to.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class SettingsError(ValueError):
    """A setting is unknown or invalid; the message names it."""


class Settings(BaseModel):
    """Everything the server can be told at start; immutable afterwards."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("./data")
    #: Empty means the embedded SQLite file ``<data_dir>/livemarket.sqlite3``.
    database_url: str = ""
    #: Empty means the embedded in-process bus, presence and ledger.
    redis_url: str = ""
    #: Prefix of every Redis key and channel, so several deployments (or tests) share one Redis.
    redis_prefix: str = "lm:"
    #: Empty means generated once and kept in ``<data_dir>/secret.key``.
    secret_key: str = ""
    timezone: str = "Asia/Seoul"
    discount_cap_pct: int = Field(50, ge=1, le=50)
    capacity_per_special: int = Field(300, ge=1)
    capacity_per_server: int = Field(2000, ge=1)
    #: A WHEP viewer not connected this long after its answer is hung up; until then
    #: it holds a seat (``docs/streaming.md``).
    viewer_connect_grace_s: float = Field(10.0, gt=0, le=120)
    #: WHEP viewers one client address may have still connecting; more get 429.
    pending_viewers_per_address: int = Field(4, ge=1)
    #: Realtime sockets one client address may hold at once (staff are not counted).
    sockets_per_address: int = Field(32, ge=1)
    #: Reverse proxies whose ``X-Forwarded-For`` names the client for per-address limits
    #: (exact addresses; without them every client behind a proxy is the proxy).
    trusted_proxies: tuple[str, ...] = ()
    special_min_minutes: int = Field(10, ge=1)
    special_max_minutes: int = Field(240, ge=1)
    go_live_early_minutes: int = Field(15, ge=0)
    order_hold_minutes: int = Field(10, ge=1)
    #: Public base URL used in QR codes and calendar links; empty means the request's own.
    public_url: str = ""
    #: Send the session cookie only over HTTPS (turn on behind TLS).
    secure_cookies: bool = False
    #: Extra page origins allowed to open the realtime WebSocket and to call /whip and /whep
    #: cross-origin (scale-out: every instance's origin; the page's own always is).
    allowed_origins: tuple[str, ...] = ()
    #: STUN/TURN server URLs offered to WebRTC peers; none by default.
    ice_servers: tuple[str, ...] = ()
    #: Host addresses offered as ICE candidates; empty means every interface.
    ice_host_addresses: tuple[str, ...] = ()
    #: Public address announced in ICE candidates behind NAT.
    ice_public_address: str = ""
    recordings: bool = True
    #: Package every live H.264 special as Low-Latency HLS under ``/hls/`` and keep its
    #: segments in ``<data_dir>/hls`` for replay (``docs/hls.md``); off: no /hls/ at all.
    hls: bool = True
    #: This instance's public base URL (scale-out: WHEP viewers on other instances are
    #: redirected to it); empty means the WHIP request's own origin.
    instance_url: str = ""
    #: Lifetime of an instance's Redis claim on a special's relay (refreshed every third).
    relay_claim_ttl_s: float = Field(15.0, gt=0)
    #: How long an instance that stopped beating (killed) keeps its claims: after this,
    #: a host may re-publish elsewhere and viewers are no longer sent to it.
    relay_owner_lease_s: float = Field(3.0, gt=0)
    log_level: str = "INFO"
    #: Threads writing a realtime fan-out beside the event loop's own (GIL released in
    #: each socket write); unset means one when there is a second core. 0 for none, -1
    #: for no direct socket writes at all (every frame through its transport).
    fanout_send_threads: int | None = Field(None, ge=-1, le=16)
    #: ``uvloop`` runs ``serve`` on uvloop (installed with the ``bench`` extra): cheaper
    #: socket writes and callbacks, measured in the checkout benchmark.
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    #: Server processes sharing ``port`` (SO_REUSEPORT; see ``livemarket.web.workers``).
    #: More than one needs ``redis_url``: each worker is one scale-out instance.
    workers: int = Field(1, ge=1, le=64, validate_default=True)
    #: With several workers, worker ``i`` also listens on ``worker_base_port + i`` (its own
    #: media address, advertised as its ``instance_url``); 0 means ``port + 1``.
    worker_base_port: int = Field(0, ge=0, le=65535)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("instance_url")
    @classmethod
    def _instance_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: int, info: ValidationInfo) -> int:
        # Declared after host, redis_url and instance_url, so those are in ``info.data``.
        instance_url = info.data.get("instance_url", "")
        has_placeholder = any(p in instance_url for p in INSTANCE_URL_PLACEHOLDERS)
        if value == 1:
            if has_placeholder:
                raise ValueError("instance_url placeholders {worker} and {port} need workers > 1")
            return value
        if not info.data.get("redis_url"):
            raise ValueError(
                "more than one worker needs LIVEMARKET_REDIS_URL (scale-out mode): the "
                "embedded bus and stock ledger live in one process"
            )
        if instance_url and not has_placeholder:
            raise ValueError(
                "with several workers, instance_url must contain {port} or {worker} so that "
                "each worker has its own address, e.g. http://shop.example:{port}"
            )
        if not instance_url and info.data.get("host", "") in WILDCARD_HOSTS:
            raise ValueError(
                "several workers listening on every interface need an instance_url with "
                "{port} or {worker} (the address viewers are redirected to), "
                "e.g. http://shop.example:{port}"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def zone(self) -> ZoneInfo:
        """The display time zone (times are stored in UTC)."""
        return ZoneInfo(self.timezone)

    @property
    def effective_database_url(self) -> str:
        """The configured database, or the embedded SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'livemarket.sqlite3').resolve()}"

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: bus, presence and ledger stay in-process."""
        return not self.redis_url


_LIST_SETTINGS = {"allowed_origins", "ice_servers", "ice_host_addresses", "trusted_proxies"}


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name[len(ENV_PREFIX) :]
        if key in ENV_META or key.startswith(ENV_META_PREFIX):
            continue
        field = key.lower()
        if field not in Settings.model_fields:
            raise SettingsError(f"{name}: unknown setting")
        if field in _LIST_SETTINGS:
            values[field] = tuple(part.strip() for part in raw.split(",") if part.strip())
        else:
            values[field] = raw
    return values


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"LIVEMARKET_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"LIVEMARKET_CONFIG: {path} is not valid TOML: {exc}") from exc
    section = document.get("livemarket", document)
    for key in section:
        if key not in Settings.model_fields:
            raise SettingsError(f"{key} (in {path}): unknown setting")
    return dict(section)


def _describe(errors: Iterable[Any], sources: Mapping[str, str]) -> str:
    problems = []
    for item in errors:
        field = str(item["loc"][0]) if item["loc"] else "?"
        problems.append(f"{sources.get(field, field)}: {item['msg']}")
    return "invalid settings: " + "; ".join(problems)


def _check_shadowed(
    values: Mapping[str, Any], shadowed: set[str], sources: Mapping[str, str]
) -> None:
    """An invalid value stops start-up even where a command-line option overrides it.

    ``LIVEMARKET_PORT=abc`` with ``--port 18003`` is a mistake in the environment that
    would surface the day the option is dropped; say so now. Only the overridden fields'
    own errors count here (the others are judged with the overrides applied).
    """
    if not shadowed:
        return
    try:
        Settings(**values)
    except ValidationError as exc:
        bad = [item for item in exc.errors() if item["loc"] and item["loc"][0] in shadowed]
        if bad:
            raise SettingsError(_describe(bad, sources)) from exc


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read the settings: TOML file (``LIVEMARKET_CONFIG``), then environment, then overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    config_path = environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        from_file = _from_toml(Path(config_path))
        values.update(from_file)
        sources.update({key: f"{key} (in {config_path})" for key in from_file})
    from_env = _from_environment(environ)
    values.update(from_env)
    sources.update({key: ENV_PREFIX + key.upper() for key in from_env})
    for key in overrides:
        if key not in Settings.model_fields:
            raise SettingsError(f"{key}: unknown setting")
    _check_shadowed(values, set(overrides) & set(sources), sources)
    values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_describe(exc.errors(), sources)) from exc
