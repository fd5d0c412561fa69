"""Vendored browser libraries are exactly what their manifest says, with their licence."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[2] / "livemarket/web/static/vendor"


def test_every_vendored_file_matches_its_manifest_and_carries_its_licence() -> None:
    """Each file has an entry (package, exact version, SHA-256) and its licence beside it;
    nothing sits in the folder unaccounted for."""
    manifest = json.loads((VENDOR / "vendor.json").read_text())
    accounted = {"vendor.json"}
    for name, entry in manifest.items():
        data = (VENDOR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert entry["version"].count(".") == 2, "versions are exact"
        assert (VENDOR / entry["license_file"]).read_text().strip(), name
        version = entry["version"].encode()
        # a banner (Chart.js) or the library's own version constant (hls.js: "1.7.4")
        assert version in data[:400] or b'"' + version + b'"' in data, "names its version"
        accounted |= {name, entry["license_file"]}
    assert {p.name for p in VENDOR.iterdir()} == accounted


def test_the_hls_player_build_has_low_latency_hls() -> None:
    """The watch page plays LL-HLS with hls.js's light build: it must keep the low-latency
    parts (blocking playlist reload, parts), which the light build does not leave out."""
    manifest = json.loads((VENDOR / "vendor.json").read_text())
    (name,) = [name for name, entry in manifest.items() if entry["package"] == "hls.js"]
    data = (VENDOR / name).read_bytes()
    for marker in (b"lowLatencyMode", b"_HLS_msn", b"_HLS_part"):
        assert marker in data, marker
