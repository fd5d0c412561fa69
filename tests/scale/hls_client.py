"""A simulated LL-HLS viewer: blocking playlist reloads and every new part, like hls.js.

Plain asyncio + aiohttp (no pytest), shared by the nginx cache test and ``bench/hls.py``.
The viewer asks for the next part with ``_HLS_msn``/``_HLS_part`` (taken from the
playlist's preload hint), then downloads each part the playlist lists that it has not
fetched yet, near the live edge only.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp

_HINT = re.compile(r'#EXT-X-PRELOAD-HINT:.*URI="([^"]+)"')
_PART = re.compile(r'#EXT-X-PART:.*URI="([^"]+)"')
_PART_NAME = re.compile(r"(\d+)\.(\d+)\.mp4$")
_MAP = re.compile(r'#EXT-X-MAP:URI="([^"]+)"')


@dataclass(frozen=True)
class LivePlaylist:
    """What a viewer needs from a live media playlist."""

    init: str | None
    parts: tuple[str, ...]
    next_part: tuple[int, int] | None  # (msn, part) of the preload hint


def read_playlist(text: str) -> LivePlaylist:
    """The init URI, part URIs in order and the hinted next part of an LL-HLS playlist."""
    init = _MAP.search(text)
    hint = _HINT.search(text)
    next_part = None
    if hint is not None:
        name = _PART_NAME.search(hint.group(1))
        if name is not None:
            next_part = (int(name.group(1)), int(name.group(2)))
    return LivePlaylist(init.group(1) if init else None, tuple(_PART.findall(text)), next_part)


@dataclass
class ViewerTally:
    """What one simulated viewer did."""

    playlists: int = 0
    parts: int = 0
    part_bytes: int = 0
    errors: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)


async def watch_live(
    http: aiohttp.ClientSession,
    playlist_url: str,
    until: float,
    *,
    on_part: Callable[[str, bytes], None] | None = None,
    keep_parts: int = 3,
) -> ViewerTally:
    """Follow the live playlist until ``time.monotonic() >= until``, fetching new parts."""
    tally = ViewerTally()
    seen: set[str] = set()
    query = ""
    init_fetched = False
    while time.monotonic() < until:
        try:
            async with http.get(playlist_url + query) as response:
                text = await response.text()
                if response.status != 200:
                    tally.errors.append(f"playlist {response.status}")
                    await asyncio.sleep(0.2)
                    continue
            tally.playlists += 1
            playlist = read_playlist(text)
            base = str(response.url)
            if not init_fetched and playlist.init is not None:
                async with http.get(urljoin(base, playlist.init)) as response:
                    data = await response.read()
                    if on_part is not None:
                        on_part(playlist.init, data)
                init_fetched = True
            fresh = [uri for uri in playlist.parts if uri not in seen]
            if not seen:  # a new viewer starts near the live edge, skipping older parts
                fresh = fresh[-keep_parts:]
                seen.update(playlist.parts)
            for uri in fresh:
                seen.add(uri)
                async with http.get(urljoin(base, uri)) as response:
                    data = await response.read()
                if response.status != 200:
                    # Fallen behind the window (or refused): back to the live edge, as
                    # hls.js does, rather than asking for one old part after another.
                    tally.errors.append(f"part {response.status}")
                    seen.update(playlist.parts)
                    query = ""
                    break
                tally.parts += 1
                tally.part_bytes += len(data)
                tally.fetched.append(uri)
                if on_part is not None:
                    on_part(uri, data)
            else:
                if playlist.next_part is not None:
                    msn, part = playlist.next_part
                    query = f"?_HLS_msn={msn}&_HLS_part={part}"
        except (TimeoutError, aiohttp.ClientError) as error:
            tally.errors.append(type(error).__name__)
            await asyncio.sleep(0.2)
    return tally
