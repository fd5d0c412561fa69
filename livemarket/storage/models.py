"""Imports every domain's models so ``Base.metadata`` holds the whole schema (for Alembic)."""

from livemarket.accounts.models import User
from livemarket.chat.models import ChatBan, ChatIdNode, ChatMessage, ChatRoom
from livemarket.checkout.models import FlashDeal, Order, OrderLine, Product
from livemarket.figures.models import SpecialMinute
from livemarket.replay.models import ShowMoment
from livemarket.scheduler.models import (
    PlannedDeal,
    Platform,
    Special,
    SpecialProduct,
    SpecialReminder,
)
from livemarket.simulcast.models import SimulcastDestination
from livemarket.storage.base import Base

__all__ = [
    "Base",
    "ChatBan",
    "ChatIdNode",
    "ChatMessage",
    "ChatRoom",
    "FlashDeal",
    "Order",
    "OrderLine",
    "PlannedDeal",
    "Platform",
    "Product",
    "ShowMoment",
    "SimulcastDestination",
    "Special",
    "SpecialProduct",
    "SpecialMinute",
    "SpecialReminder",
    "User",
]
