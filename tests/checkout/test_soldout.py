"""The sold-out memo and the price cache on plain objects: windows and invalidation."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from livemarket.checkout.orders import OrderItem
from livemarket.checkout.price_cache import PriceCache
from livemarket.checkout.soldout import SoldOutMemo

from .checkout_seed import NOW


def test_memo_refuses_at_least_the_refused_quantity_within_its_window() -> None:
    """After 3 units were refused, 3 or more are refused at once, 2 are asked for, for 1 s."""
    memo = SoldOutMemo(timedelta(seconds=1))
    memo.note(7, 3, NOW, memo.generation)
    assert memo.refusal([OrderItem(7, 3)], NOW) == 7
    assert memo.refusal([OrderItem(5, 1), OrderItem(7, 4)], NOW) == 7
    assert memo.refusal([OrderItem(7, 2)], NOW) is None
    assert memo.refusal([OrderItem(7, 3)], NOW + timedelta(seconds=1)) is None


def test_memo_forgets_returned_stock_and_stale_refusals() -> None:
    """Stock coming back clears the product, and a refusal asked before that is not noted."""
    memo = SoldOutMemo()
    asked_at = memo.generation
    memo.note(7, 1, NOW, asked_at)
    memo.forget([7])
    assert memo.refusal([OrderItem(7, 1)], NOW) is None
    memo.note(7, 1, NOW, asked_at)  # the ledger was asked before the stock came back
    assert memo.refusal([OrderItem(7, 1)], NOW) is None


def test_price_cache_keeps_rows_for_its_window_unless_changed() -> None:
    """Rows serve every id for the window; a change drops them and a read older than it."""
    cache = PriceCache(timedelta(seconds=1))
    rows = [SimpleNamespace(product_id=1), SimpleNamespace(product_id=2)]
    cache.put(rows, NOW, cache.generation)
    assert cache.get([2, 1], NOW) == [rows[1], rows[0]]
    assert cache.get([1, 3], NOW) is None
    assert cache.get([1], NOW + timedelta(seconds=1)) is None
    read_at = cache.generation
    cache.forget([1])
    assert cache.get([1], NOW) is None
    cache.put(rows, NOW, read_at)  # read before the deal changed: not kept
    assert cache.get([1], NOW) is None


def test_one_order_probes_the_ledger_when_the_window_has_passed() -> None:
    """After the window one order asks the ledger; the rest are refused until it answers."""
    memo = SoldOutMemo(timedelta(seconds=1))
    memo.note(7, 1, NOW, memo.generation)
    later = NOW + timedelta(seconds=1)
    assert memo.refusal([OrderItem(7, 1)], later) is None  # this one probes
    assert memo.refusal([OrderItem(7, 1)], later) == 7  # the crowd waits for its answer
    assert memo.refusal([OrderItem(7, 2)], later + timedelta(milliseconds=100)) == 7
    memo.note(7, 1, later, memo.generation)  # the probe was refused: a new window
    assert memo.refusal([OrderItem(7, 1)], later + timedelta(milliseconds=900)) == 7


def test_a_probe_that_sells_or_never_answers_lets_orders_through() -> None:
    """Stock found by the probe clears the product; a lost probe is replaced after a timeout."""
    memo = SoldOutMemo(timedelta(seconds=1))
    memo.note(7, 1, NOW, memo.generation)
    memo.note(8, 1, NOW, memo.generation)
    later = NOW + timedelta(seconds=1)
    assert memo.refusal([OrderItem(7, 1)], later) is None
    memo.sold([7])
    assert memo.refusal([OrderItem(7, 1)], later) is None
    assert memo.refusal([OrderItem(7, 1)], later) is None  # no entry: everyone asks
    assert memo.refusal([OrderItem(8, 1)], later) is None  # probe for 8, then silence
    assert memo.refusal([OrderItem(8, 1)], later + timedelta(milliseconds=499)) == 8
    assert memo.refusal([OrderItem(8, 1)], later + timedelta(milliseconds=500)) is None
