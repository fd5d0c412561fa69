"""Simulcast: each live special also pushed to its partner platforms' RTMP(S) ingests."""
