"""The realtime gateway's aiohttp side: the upgrade handler (domain: ``livemarket.realtime``)."""
