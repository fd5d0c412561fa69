"""RFC 6455 conformance: the Autobahn fuzzing client against an echo room on our sockets.

The echo room is the production socket class (``WireSocket``: websockets' protocol,
the flood budget of an anonymous viewer, the fragment bound, the write limit) with
one difference: messages up to 16 MiB, which cases 9.1 and 9.2 send (viewers get
64 KiB). autobahntestsuite runs on Python 2.7 only; set ``LIVEMARKET_TEST_AUTOBAHN``
to the folder it was installed in with ``python2.7 -m pip install --target`` (and
``LIVEMARKET_TEST_PYTHON2`` if ``python2.7`` is not on the path). CI does both.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from livemarket.realtime.frames import Opcode, frame
from livemarket.realtime.protocol import FrameBudget
from livemarket.realtime.reader import FrameReader
from livemarket.realtime.wire import WireSocket
from livemarket.web.realtime import gateway

SITE = os.environ.get("LIVEMARKET_TEST_AUTOBAHN", "")
PYTHON2 = os.environ.get("LIVEMARKET_TEST_PYTHON2") or shutil.which("python2.7") or ""
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.1.*", "9.2.*"]
#: The whole run; each case has its own timeouts inside the suite.
DEADLINE_S = 900

pytestmark = pytest.mark.skipif(
    not (SITE and PYTHON2), reason="set LIVEMARKET_TEST_AUTOBAHN (autobahntestsuite, Python 2.7)"
)


class EchoSocket(WireSocket):
    """Sends every message back as it came (text as text, binary as binary)."""

    __slots__ = ()

    def received(self, opcode: Opcode, data: str | bytes, verdict: str) -> None:
        self.write(frame(opcode, data.encode() if isinstance(data, str) else data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection.closed = True


async def echo(request: web.Request) -> web.StreamResponse:
    answer = gateway._handshake(request)
    transport = request.transport
    assert answer is not None and transport is not None
    socket = EchoSocket(transport, FrameReader(16 * 2**20, budget=FrameBudget()), None)
    gateway._take_over(request, transport, socket)
    transport.write(answer)
    return gateway._Detached()


async def test_autobahn_cases_1_to_7_and_9_1_to_9_2_pass(
    aiohttp_server: Any, tmp_path: Path
) -> None:
    """No case fails (OK, NON-STRICT and INFORMATIONAL are what the suite allows)."""
    app = web.Application()
    app.router.add_get("/echo", echo)
    server = await aiohttp_server(app)
    spec = {
        "outdir": str(tmp_path / "reports"),
        "servers": [{"agent": "livemarket", "url": f"ws://127.0.0.1:{server.port}/echo"}],
        "cases": CASES,
        "exclude-cases": [],
        "exclude-agent-cases": {},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    launcher = (
        "import site, sys; site.addsitedir(sys.argv[1]); sys.argv = ['wstest'] + sys.argv[2:]; "
        "from autobahntestsuite.wstest import run; sys.exit(run())"
    )
    process = await asyncio.create_subprocess_exec(
        PYTHON2,
        "-c",
        launcher,
        SITE,
        "-m",
        "fuzzingclient",
        "-s",
        str(tmp_path / "spec.json"),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), DEADLINE_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode(errors="replace")[-3000:]
    results = json.loads((tmp_path / "reports" / "index.json").read_text())["livemarket"]
    assert len(results) > 250  # every case of those groups ran
    failed = {
        case: (result["behavior"], result["behaviorClose"])
        for case, result in results.items()
        if "FAILED" in (result["behavior"], result["behaviorClose"])
        or result["behavior"] == "UNIMPLEMENTED"
    }
    assert not failed
