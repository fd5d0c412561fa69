"""Order lifecycle: ``reserved → paid → fulfilled``, or ``cancelled`` / ``expired``. No I/O."""

from __future__ import annotations

from livemarket.errors import Conflict

RESERVED = "reserved"
PAID = "paid"
FULFILLED = "fulfilled"
CANCELLED = "cancelled"
EXPIRED = "expired"

_NEXT: dict[str, frozenset[str]] = {
    RESERVED: frozenset({PAID, CANCELLED, EXPIRED}),
    PAID: frozenset({FULFILLED, CANCELLED}),
    FULFILLED: frozenset(),
    CANCELLED: frozenset(),
    EXPIRED: frozenset(),
}
#: States whose stock is still held or sold (cancelling or expiring these returns it).
HOLDING = frozenset({RESERVED, PAID})


def check_transition(current: str, target: str) -> bool:
    """True when the move changes state, False when already there (idempotent); else refuse."""
    if current == target:
        return False
    if target not in _NEXT.get(current, frozenset()):
        raise Conflict(
            f"order_{current}",
            f"an order that is {current} cannot become {target}",
            status=current,
        )
    return True
