"""Mutated SDP offers: a small, seeded mutator for the hostile-offer tests.

Each mutation is one plausible way an offer arrives broken (a merged or cut
line, a huge port, an odd payload type, a missing fingerprint...), applied to a
real offer; ``mutations`` yields a reproducible mix, each named for the report.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

Mutation = Callable[[list[str], random.Random], list[str]]

_PORTS = ("4294967296", "65536", "-1", "99999999999999999999", "x", "")
_PAYLOAD_TYPES = ("999", "-1", "128", "256", "x", "1e9", "")
_JUNK = (
    "a=rtpmap:96",
    "a=rtpmap:999 VP8/90000",
    "a=rtpmap:96 VP8",
    "a=rtpmap:96 /90000",
    "a=rtpmap:97 rtx/90000",
    "a=fmtp:97 apt=999",
    "a=fmtp:",
    "a=fmtp:96 profile-level-id=zz;packetization-mode=9",
    "a=rtcp-fb:*",
    "a=rtcp-fb:96",
    "a=extmap:999999 urn:x",
    "a=extmap:x",
    "a=ssrc:x cname:y",
    "a=ssrc-group:FID",
    "a=ssrc-group:FID 1",
    "a=msid-semantic:",
    "a=group:BUNDLE 7 8 9",
    "a=group:",
    "a=candidate:1 1 udp x 127.0.0.1 9 typ host",
    "a=candidate:1 1 udp 1 127.0.0.1 4294967296 typ host",
    "a=candidate:1 1 udp 1 ::zz 9 typ host",
    "a=candidate:1",
    "a=fingerprint:sha-256",
    "a=fingerprint:md5 00:11",
    "a=fingerprint:sha-256 ZZ",
    "a=setup:sideways",
    "a=setup:",
    "a=ice-ufrag:",
    "a=ice-pwd:",
    "a=mid:",
    "a=rtcp:x",
    "a=sctpmap:5000 webrtc-datachannel 1024",
    "a=sctp-port:x",
    "a=max-message-size:-1",
    "c=IN IP4",
    "c=IN IP9 1.2.3.4",
    "b=AS:x",
    "m=",
    "m=video",
    "m=video 9 UDP/TLS/RTP/SAVPF",
    "m=audio 9 RTP/AVP 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "m=application 9 DTLS/SCTP 5000",
    "m=text 9 UDP/TLS/RTP/SAVPF 96",
    "a=sendrecv",
    "a=sendonly",
    "a=inactive",
    "a=recvonly",
    "\x00",
    "a=\u202e",
)


def _pick(lines: list[str], rng: random.Random, prefix: str = "") -> int | None:
    found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    return rng.choice(found) if found else None


def merge_into_previous(lines: list[str], rng: random.Random) -> list[str]:
    """An m= line (or any line) glued onto the line before it."""
    index = _pick(lines[1:], rng, "m=" if rng.random() < 0.6 else "")
    if index is None:
        return lines
    index += 1
    return [*lines[: index - 1], lines[index - 1] + " " + lines[index], *lines[index + 1 :]]


def odd_port(lines: list[str], rng: random.Random) -> list[str]:
    index = _pick(lines, rng, "m=")
    if index is None:
        return lines
    parts = lines[index].split(" ")
    if len(parts) > 1:
        parts[1] = rng.choice(_PORTS)
    return [*lines[:index], " ".join(parts), *lines[index + 1 :]]


def odd_payload_type(lines: list[str], rng: random.Random) -> list[str]:
    """A payload type rewritten everywhere it appears (m= list, rtpmap, fmtp, rtcp-fb)."""
    index = _pick(lines, rng, "m=")
    if index is None:
        return lines
    parts = lines[index].split(" ")
    if len(parts) < 4:
        return lines
    old = rng.choice(parts[3:])
    new = rng.choice(_PAYLOAD_TYPES)
    out = []
    for line in lines:
        if line.startswith("m="):
            fields = line.split(" ")
            line = " ".join(fields[:3] + [new if f == old else f for f in fields[3:]])
        for attr in ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"):
            if line.startswith(f"{attr}{old} "):
                line = f"{attr}{new} " + line[len(attr) + len(old) + 1 :]
        out.append(line)
    return out


def drop_line(lines: list[str], rng: random.Random) -> list[str]:
    """A line left out, often one that matters (fingerprint, ufrag, setup, mid, rtpmap)."""
    prefix = rng.choice(
        ("a=fingerprint", "a=ice-ufrag", "a=ice-pwd", "a=setup", "a=mid", "a=rtpmap", "c=", "")
    )
    if prefix == "a=fingerprint":  # all of them: no fingerprint at all
        return [line for line in lines if not line.startswith(prefix)]
    index = _pick(lines, rng, prefix)
    return lines if index is None else [*lines[:index], *lines[index + 1 :]]


def truncate_line(lines: list[str], rng: random.Random) -> list[str]:
    index = rng.randrange(1, len(lines))
    line = lines[index]
    cut = rng.randrange(0, max(1, len(line)))
    return [*lines[:index], line[:cut], *lines[index + 1 :]]


def truncate_offer(lines: list[str], rng: random.Random) -> list[str]:
    text = "\r\n".join(lines)
    return text[: rng.randrange(4, len(text))].split("\r\n")


def insert_junk(lines: list[str], rng: random.Random) -> list[str]:
    index = rng.randrange(1, len(lines) + 1)
    return [*lines[:index], rng.choice(_JUNK), *lines[index:]]


def duplicate_line(lines: list[str], rng: random.Random) -> list[str]:
    index = rng.randrange(1, len(lines))
    return [*lines[: index + 1], lines[index], *lines[index + 1 :]]


def swap_sections(lines: list[str], rng: random.Random) -> list[str]:
    """Media sections reordered, or one duplicated (two m=video)."""
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    if not starts:
        return lines
    sections = [lines[a:b] for a, b in zip(starts, [*starts[1:], len(lines)], strict=True)]
    if rng.random() < 0.5:
        sections.reverse()
    else:
        sections.append(rng.choice(sections))
    return lines[: starts[0]] + [line for section in sections for line in section]


def shuffle_attributes(lines: list[str], rng: random.Random) -> list[str]:
    head, tail = lines[:4], lines[4:]
    rng.shuffle(tail)
    return head + tail


MUTATIONS: tuple[Mutation, ...] = (
    merge_into_previous,
    odd_port,
    odd_payload_type,
    drop_line,
    truncate_line,
    truncate_offer,
    insert_junk,
    duplicate_line,
    swap_sections,
    shuffle_attributes,
)


def issue_offer(offer: str) -> str:
    """The reported case: the video m= line merged into ``a=msid-semantic`` and the
    audio port set to 2**32 (video must come first in ``offer``)."""
    lines = offer.split("\r\n")
    out: list[str] = []
    for line in lines:
        if line.startswith("m=video") and out and out[-1].startswith("a=msid-semantic"):
            out[-1] += " " + line
            continue
        if line.startswith("m=audio"):
            parts = line.split(" ")
            line = " ".join([parts[0], "4294967296", *parts[2:]])
        out.append(line)
    return "\r\n".join(out)


def mutations(offer: str, count: int, seed: int = 13) -> Iterator[tuple[str, str]]:
    """``count`` (name, mutated offer) pairs; one to three mutations each, seeded."""
    rng = random.Random(seed)
    base = offer.rstrip("\r\n").split("\r\n")
    for _ in range(count):
        lines = list(base)
        names = []
        for mutation in rng.sample(MUTATIONS, rng.randint(1, 3)):
            lines = mutation(lines, rng)
            names.append(mutation.__name__)
        text = "\r\n".join(lines) + "\r\n"
        if not text.startswith("v=0"):
            text = "v=0\r\n" + text  # past the cheap check, into the parser
        yield "+".join(names), text
