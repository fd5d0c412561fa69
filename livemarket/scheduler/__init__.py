"""The broadcast calendar: specials, their lifecycle, validation, iCalendar and the runner."""
