"""LiveMarket: a live-commerce streaming and sales orchestrator.

The design card's rooms (config, scheduler, chat, checkout, streamer, web) live
inside this one importable package rather than as top-level packages, so that
installing LiveMarket never puts generic names such as ``config`` or ``web`` on
``sys.path``. Two infrastructure rooms were added beside them: ``storage`` (the
SQLAlchemy base, engine and migrations every domain shares) and ``accounts``
(users, roles, passwords and stream keys, which the calendar, chat and streamer
all refer to), plus ``bus`` (the event bus every domain publishes to) and
``demo`` (the K-MAS season seed).
"""

__version__ = "0.1.0"
