"""Shoppable replay: what happened in a show, kept with its times, laid over its HLS VOD."""
