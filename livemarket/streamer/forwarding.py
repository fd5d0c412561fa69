"""Keyframe gating: a decoder is fed whole delta chains that start at a keyframe.

A video decoder can only start at a keyframe, and every frame after a gap is
garbage until the next one. The same rule applies at two places: to each
viewer (it joins mid-stream, or its socket backs up and frames must be
dropped) and to the publisher's stream as a whole (the ingest lost packets it
could not recover). A :class:`KeyframeGate` drops frames from the first gap
until the next keyframe, and says when a keyframe is wanted; nothing is ever
queued, so a slow viewer is skipped forward, never buffered. No clock, no
loop: tested directly.
"""

from __future__ import annotations


class KeyframeGate:
    """Lets frames through only while the delta chain since a keyframe is unbroken."""

    def __init__(self, *, gated: bool = True) -> None:
        self.gated = gated
        self.waiting_for_keyframe = gated
        self.forwarded = 0
        self.dropped = 0
        self.skips = 0

    def admit(self, *, keyframe: bool) -> bool:
        """Whether this frame goes out.

        While :attr:`waiting_for_keyframe` is set after a call, the caller should
        ask the publisher for a keyframe (through the throttle). A frame admitted
        but then lost (a full socket) is reported with :meth:`break_chain`.
        """
        if self.gated and self.waiting_for_keyframe and not keyframe:
            self.dropped += 1
            return False
        self.waiting_for_keyframe = False
        self.forwarded += 1
        return True

    def break_chain(self) -> None:
        """A frame was lost: drop everything until the next keyframe."""
        if self.gated and not self.waiting_for_keyframe:
            self.waiting_for_keyframe = True
            self.skips += 1

    def restart(self) -> None:
        """A new publisher stream: wait for its first keyframe (not counted as a skip)."""
        self.waiting_for_keyframe = self.gated
