"""The payment-provider interface and the built-in bank-transfer / pay-on-delivery provider.

A real gateway plugs in by implementing :class:`PaymentProvider`:
``instructions`` tells the buyer how to pay once the order is reserved, and
``confirm`` checks a payment (for a gateway: verify the reference with it) and
returns the reference to record. Confirmation is idempotent in the order
service (a second confirmation of a paid order changes nothing), so a gateway
may call its webhook twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from livemarket.errors import DomainError


@dataclass(frozen=True)
class PaymentRequest:
    order_id: int
    total: int
    method: str


class PaymentProvider(Protocol):
    #: Methods this provider handles (``bank_transfer``, ``card`` …).
    methods: tuple[str, ...]

    def instructions(self, request: PaymentRequest) -> dict[str, str]:
        """What to show the buyer after the order is reserved."""

    async def confirm(self, request: PaymentRequest, reference: str) -> str:
        """Check the payment; return the reference to store, or raise ``DomainError``."""


class ManualProvider:
    """Bank transfer or pay on delivery: an operator marks the order paid from the console."""

    methods: tuple[str, ...] = ("bank_transfer", "pay_on_delivery")

    def __init__(self, bank_account: str = "KM Bank 123-456-789012 (K-MAS Live Market)") -> None:
        self._account = bank_account

    def instructions(self, request: PaymentRequest) -> dict[str, str]:
        if request.method == "pay_on_delivery":
            return {"method": "pay_on_delivery", "text": "Pay the courier on delivery."}
        return {
            "method": "bank_transfer",
            "account": self._account,
            "reference": f"LM{request.order_id:08d}",
            "text": "Transfer the total with the reference before the hold ends.",
        }

    async def confirm(self, request: PaymentRequest, reference: str) -> str:
        if len(reference) > 100:
            raise DomainError(
                "payment_reference_invalid", "a payment reference is 100 characters or less"
            )
        return reference or f"manual:LM{request.order_id:08d}"
