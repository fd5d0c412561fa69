"""The aiohttp application: factory, routes, sessions, realtime gateway, pages, CLI."""
