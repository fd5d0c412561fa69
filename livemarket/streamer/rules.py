"""Who may publish a special's stream, and when. Plain functions, no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta

from livemarket.errors import DomainError, ErrorKind, Forbidden


def check_publisher(role: str, user_id: int, host_id: int) -> None:
    """A stream key publishes only its owner's special, or any special for an operator.

    Anyone else's key is, for this special, a wrong key: 401 like an unknown one.
    """
    if role == "operator" or (role == "host" and user_id == host_id):
        return
    raise DomainError(
        "stream_key_wrong",
        "This stream key does not publish this special.",
        kind=ErrorKind.UNAUTHENTICATED,
    )


def check_publish_window(
    status: str, starts_at: datetime, ends_at: datetime, now: datetime, early_minutes: int
) -> None:
    """A special takes a stream while live, or from ``early_minutes`` before its start.

    The early window lets the host set up and test before the scheduler opens the
    room; a cancelled or ended special, or one far in the future, refuses.
    """
    if status == "live":
        return
    if status == "scheduled" and starts_at - timedelta(minutes=early_minutes) <= now < ends_at:
        return
    if status in ("ended", "cancelled"):
        raise Forbidden("special_not_live", f"This special is {status}.")
    raise Forbidden(
        "special_not_live",
        f"Going live opens {early_minutes} minutes before the special starts.",
    )
