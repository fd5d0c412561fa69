"""Answering a throttled request: 429 with ``Retry-After``, the one shape every throttle uses."""

from __future__ import annotations

import math
from collections.abc import Iterable

from livemarket.accounts.throttle import SlidingWindow
from livemarket.web.errors import ApiError


def refuse_if_throttled(
    window: SlidingWindow, keys: Iterable[str], now: float, code: str, message: str
) -> None:
    """Raise 429 (``Retry-After`` in whole seconds) when any of ``keys`` must still wait."""
    wait = max((window.retry_after(key, now) for key in keys), default=0.0)
    if wait > 0:
        raise ApiError(429, code, message, headers={"Retry-After": str(math.ceil(wait))})
