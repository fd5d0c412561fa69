"""A WHIP publisher built on Debian's GStreamer ``webrtcbin`` (run with the system python3).

Not part of the product, nor run inside the test process: PyGObject and GStreamer
come from Debian packages for Debian's own python3, so the tests start this
script as a subprocess. It publishes a test picture (VP8, H.264 constrained
baseline or H.264 High by x264) and Opus to a WHIP endpoint, the way a third-party
encoder would, prints one JSON line per event (``answered``, ``connected``,
``failed``) and stops after ``--seconds`` or on SIGTERM, sending the DELETE.

Loopback only: libnice gathers candidates on every interface but loopback, so on
a machine without another interface it would offer none. The harness tells the
ICE agent to use 127.0.0.1 (``add-local-ip-address``); the product is unchanged.

Usage: python3 gst_whip_publish.py URL TOKEN {vp8,h264,h264-high} [--seconds N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

VIDEO = {
    "vp8": (
        "vp8enc deadline=1 keyframe-max-dist=3000 ! rtpvp8pay pt=96 ! "
        "application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96"
    ),
    # The RTP caps' profile-level-id must be what x264 writes in its SPS (rtph264pay
    # derives it from there); superfast keeps the 8x8 transform, so the SPS says High.
    "h264": (
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=3000 ! "
        "video/x-h264,profile=constrained-baseline,level=(string)3.1 ! "
        "rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency ! "
        "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=102,"
        "packetization-mode=(string)1,profile-level-id=(string)42c01f"
    ),
    "h264-high": (
        "x264enc tune=zerolatency speed-preset=superfast key-int-max=3000 ! "
        "video/x-h264,profile=high,level=(string)3.1 ! "
        "rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency ! "
        "application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=102,"
        "packetization-mode=(string)1,profile-level-id=(string)64001f"
    ),
}
AUDIO = (
    "audiotestsrc is-live=true wave=sine ! audioconvert ! audioresample ! opusenc ! "
    "rtpopuspay pt=111 ! "
    "application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=111 ! webrtc."
)


def say(event: str, **details: object) -> None:
    print(json.dumps({"event": event, **details}), flush=True)


class Publisher:
    def __init__(self, url: str, token: str, codec: str) -> None:
        self.url, self.token = url, token
        self.location: str | None = None
        self.offered = False
        self.loop = GLib.MainLoop()
        self.pipeline = Gst.parse_launch(
            "webrtcbin name=webrtc bundle-policy=max-bundle "
            "videotestsrc is-live=true pattern=ball ! "
            "video/x-raw,width=320,height=240,framerate=30/1 ! videoconvert ! "
            f"{VIDEO[codec]} ! webrtc. {AUDIO}"
        )
        self.webrtc = self.pipeline.get_by_name("webrtc")
        # Kept for the publisher's lifetime: PyGObject drops a reference of the agent
        # when the wrapper of this property's value goes away.
        self.ice_agent = self.webrtc.get_property("ice-agent")
        self.ice_agent.emit("add-local-ip-address", "127.0.0.1")
        self.webrtc.connect("on-negotiation-needed", self._negotiate)
        self.webrtc.connect("notify::ice-gathering-state", self._gathered)
        self.webrtc.connect("notify::connection-state", self._connection)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._error)

    def run(self, seconds: float) -> None:
        self.pipeline.set_state(Gst.State.PLAYING)
        for transceiver in self._transceivers():
            transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        GLib.timeout_add(int(seconds * 1000), self.stop)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.stop)
        self.loop.run()

    def _transceivers(self) -> list[GstWebRTC.WebRTCRTPTransceiver]:
        found, index = [], 0
        while (transceiver := self.webrtc.emit("get-transceiver", index)) is not None:
            found.append(transceiver)
            index += 1
        return found

    def _negotiate(self, element: Gst.Element) -> None:
        if self.offered:  # once both pads are linked; the offer has both media
            return
        self.offered = True
        promise = Gst.Promise.new_with_change_func(self._offered, None)
        element.emit("create-offer", None, promise)

    def _offered(self, promise: Gst.Promise, _: object) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply is not None else None
        if offer is None:
            say("error", message=f"no offer: {reply.to_string() if reply else None}")
            return
        self.webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def _gathered(self, element: Gst.Element, _: object) -> None:
        if (
            element.get_property("ice-gathering-state")
            != GstWebRTC.WebRTCICEGatheringState.COMPLETE
        ):
            return
        offer = element.get_property("local-description").sdp.as_text()
        request = urllib.request.Request(
            self.url,
            data=offer.encode(),
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                answer_text = response.read().decode()
                self.location = urllib.parse.urljoin(self.url, response.headers["Location"])
        except urllib.error.HTTPError as error:
            say("refused", status=error.code, body=error.read().decode())
            self.loop.quit()
            return
        except urllib.error.URLError as error:
            say("failed", message=str(error))
            self.loop.quit()
            return
        _, sdp = GstSdp.SDPMessage.new_from_text(answer_text)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        element.emit("set-remote-description", answer, Gst.Promise.new())
        say("answered", location=self.location)

    def _connection(self, element: Gst.Element, _: object) -> None:
        state = element.get_property("connection-state")
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
            say("connected")
        elif state == GstWebRTC.WebRTCPeerConnectionState.FAILED:
            say("failed")

    def _error(self, bus: Gst.Bus, message: Gst.Message) -> None:
        error, debug = message.parse_error()
        say("error", message=error.message, debug=debug or "")

    def stop(self) -> bool:
        if self.location is not None:
            request = urllib.request.Request(self.location, method="DELETE")
            with contextlib.suppress(urllib.error.URLError):
                urllib.request.urlopen(request, timeout=5).close()
            self.location = None
        self.pipeline.set_state(Gst.State.NULL)
        self.loop.quit()
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("codec", choices=sorted(VIDEO))
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    Gst.init(None)
    Publisher(args.url, args.token, args.codec).run(args.seconds)
    sys.exit(0)


if __name__ == "__main__":
    main()
