"""Live chat: rooms, message rules, history, presence, likes."""
