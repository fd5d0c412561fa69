"""Realtime as a domain: rooms, fan-out, frames and the per-socket protocol, no web framework.

The aiohttp handler that upgrades a request and hands the socket over lives in
``livemarket.web.realtime.gateway``; nothing here imports aiohttp or ``livemarket.web``.
"""
