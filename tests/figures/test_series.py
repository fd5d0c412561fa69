"""Show figures minute by minute, deal sell-through, and the sampler's in-memory fold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from livemarket.figures.recorder import MinuteFolder
from livemarket.figures.series import (
    MAX_MINUTES,
    AudienceSample,
    DealSale,
    DealWindow,
    OrderPoint,
    sell_through,
    show_figures,
)

T0 = datetime(2021, 12, 18, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_orders_chat_and_viewers_land_in_their_minute() -> None:
    """Each order, message and sample counts in the minute it happened in."""
    figures = show_figures(
        T0,
        at(3),
        [AudienceSample(at(0), 10, 1), AudienceSample(at(1), 40, 5)],
        [OrderPoint(at(1.2), "a", 9_000, 1), OrderPoint(at(1.9), "b", 18_000, 2)],
        [at(0.1), at(0.5), at(2.5)],
    )
    assert [m.minute for m in figures.minutes] == [at(0), at(1), at(2), at(3)]
    assert [m.viewers for m in figures.minutes] == [10, 40, 0, 0]
    assert [m.orders for m in figures.minutes] == [0, 2, 0, 0]
    assert [m.revenue for m in figures.minutes] == [0, 27_000, 0, 0]
    assert [m.units for m in figures.minutes] == [0, 3, 0, 0]
    assert [m.chat for m in figures.minutes] == [2, 0, 1, 0]


def test_likes_are_a_running_total_that_never_drops() -> None:
    """A minute without a sample carries the last like total on."""
    figures = show_figures(
        T0, at(3), [AudienceSample(at(0), 1, 7), AudienceSample(at(2), 1, 9)], [], []
    )
    assert [m.likes for m in figures.minutes] == [7, 7, 9, 9]
    assert figures.likes == 9


def test_conversion_is_distinct_buyers_over_peak_viewers() -> None:
    """Two orders by one buyer are one buyer; no viewers means no conversion yet."""
    orders = [
        OrderPoint(at(1), "a", 1, 1),
        OrderPoint(at(2), "a", 1, 1),
        OrderPoint(at(2), "b", 1, 1),
    ]
    figures = show_figures(T0, at(3), [AudienceSample(at(1), 20, 0)], orders, [])
    assert (figures.buyers, figures.orders, figures.peak_viewers) == (2, 3, 20)
    assert figures.conversion == 0.1
    assert show_figures(T0, at(1), [], [], []).conversion is None


def test_a_bad_window_never_builds_an_unbounded_series() -> None:
    """An end years away is drawn up to the cap; an end before the start gives one minute."""
    assert len(show_figures(T0, T0 + timedelta(days=400), [], [], []).minutes) == MAX_MINUTES
    assert len(show_figures(T0, T0 - timedelta(hours=1), [], [], []).minutes) == 1


def test_the_window_stretches_to_what_happened_but_never_past_the_cap() -> None:
    """An order after the planned end is drawn; one beyond the cap only counts in the totals."""
    late = show_figures(T0, at(1), [], [OrderPoint(at(5), "a", 100, 1)], [])
    assert (len(late.minutes), late.minutes[-1].revenue) == (6, 100)
    far = show_figures(T0, at(1), [], [OrderPoint(at(MAX_MINUTES + 10), "a", 100, 1)], [])
    assert far.revenue == 100
    assert sum(m.revenue for m in far.minutes) == 0


def test_sell_through_steps_from_zero_to_the_final_count_across_the_countdown() -> None:
    """Points are (seconds into the deal, units sold so far); other deals' sales are ignored."""
    deal = DealWindow(1, 5, 30, at(0), at(5), 10)
    sales = [DealSale(1, at(2), 3), DealSale(1, at(1), 2), DealSale(2, at(1), 9)]
    assert sell_through(deal, sales) == [
        {"t": 0, "sold": 0},
        {"t": 60, "sold": 2},
        {"t": 120, "sold": 5},
        {"t": 300, "sold": 5},
    ]


def test_folder_keeps_the_peak_per_minute_and_gives_back_a_failed_batch() -> None:
    """Samples fold to the largest figures; a batch the database refused is merged back."""
    folder = MinuteFolder()
    folder.add(at(0.1), {1: (5, 2)})
    folder.add(at(0.7), {1: (3, 4)})
    batch = folder.take()
    assert batch == {(1, at(0)): (5, 4)}
    folder.add(at(0.9), {1: (8, 4)})
    folder.give_back(batch)
    assert folder.take() == {(1, at(0)): (8, 4)}


def test_folder_is_bounded_and_counts_what_it_dropped() -> None:
    """While the database is away the oldest minutes go first, counted."""
    folder = MinuteFolder(limit=3)
    for minute in range(5):
        folder.add(at(minute), {1: (1, 1)})
    assert len(folder.pending) == 3
    assert folder.dropped == 2
    assert min(minute for _, minute in folder.pending) == at(2)
