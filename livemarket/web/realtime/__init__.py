"""The realtime gateway: one WebSocket per viewer and special, fed from the event bus."""
