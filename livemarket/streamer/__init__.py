"""WebRTC media: WHIP ingest, WHEP playback and the forwarding relay."""
