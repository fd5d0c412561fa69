"""The event bus every domain publishes realtime events to (in-process or Redis)."""
