"""What each of the season's specials presents, independent of when it airs.

Pure: the n-th special's theme, line-up, title, description, platform, length and
planned flash deals follow from the catalog and n alone, so a season placed on
2021-12-18 and one placed around today show the same programme in the same order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from livemarket.demo.cast import GRIP, HOME_AND_SHOPPING, NAVER, PLATFORMS, SHINSEGAE
from livemarket.demo.catalog import THEME_LABELS, CatalogProduct

MIN_LINEUP = 3
MAX_LINEUP = 6

#: Partner rotation (None: our own site only); Naver carries the most, as in 2021.
_PLATFORM_CYCLE: tuple[str | None, ...] = (
    NAVER.slug, GRIP.slug, None, SHINSEGAE.slug, NAVER.slug,
    HOME_AND_SHOPPING.slug, GRIP.slug, None, NAVER.slug, SHINSEGAE.slug,
)  # fmt: skip
_DURATIONS_MIN = (60, 45, 90, 30, 60, 75, 50, 90, 40, 60)
_DISCOUNTS = (20, 30, 50, 15, 40, 25, 35, 10, 45, 30)
_QUANTITIES = (30, 50, 100, 40, 60)
#: The first deal starts a quarter hour in, so a newcomer sees one begin soon after seeding.
_FIRST_DEAL_OFFSET = timedelta(minutes=15)
_DEAL_LENGTH = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class PlannedDealSpec:
    """A flash deal planned inside a special: starts ``offset_s`` after the special does."""

    sku: str
    offset_s: int
    duration_s: int
    discount_pct: int
    quantity: int


@dataclass(frozen=True, slots=True)
class Programme:
    theme: str
    title: str
    description: str
    skus: tuple[str, ...]
    platform_slug: str | None
    duration: timedelta
    deals: tuple[PlannedDealSpec, ...]


def _apportion(theme_sizes: dict[str, int], count: int) -> dict[str, int]:
    """Specials per theme, proportional to its products (largest remainder, at least one)."""
    total = sum(theme_sizes.values())
    quotas = {t: count * n / total for t, n in theme_sizes.items()}
    shares = {t: max(1, int(q)) for t, q in quotas.items()}
    by_remainder = sorted(theme_sizes, key=lambda t: (shares[t] - quotas[t], t))
    i = 0
    while sum(shares.values()) < count:
        shares[by_remainder[i % len(by_remainder)]] += 1
        i += 1
    while sum(shares.values()) > count:
        largest = max(shares, key=lambda t: (shares[t] - quotas[t], shares[t], t))
        shares[largest] -= 1
    return shares


def _theme_order(shares: dict[str, int]) -> list[str]:
    """Themes spread evenly over the season instead of bunched together."""
    keyed = [((j + 0.5) / n, t) for t, n in shares.items() for j in range(n)]
    return [t for _, t in sorted(keyed)]


def _deals(
    index: int, lineup: Sequence[CatalogProduct], duration: timedelta, cap_pct: int
) -> tuple[PlannedDealSpec, ...]:
    if index % 5 == 4:  # every fifth special plans no deal: hosts start them by hand
        return ()
    offsets = [_FIRST_DEAL_OFFSET]
    second = duration - _DEAL_LENGTH - timedelta(minutes=10)
    if second >= _FIRST_DEAL_OFFSET + _DEAL_LENGTH:
        offsets.append(second)
    deals = []
    for n, offset in enumerate(offsets):
        product = lineup[n % len(lineup)]
        deals.append(
            PlannedDealSpec(
                sku=product.sku,
                offset_s=int(offset.total_seconds()),
                duration_s=int(_DEAL_LENGTH.total_seconds()),
                discount_pct=min(cap_pct, _DISCOUNTS[(index + 3 * n) % len(_DISCOUNTS)]),
                quantity=max(
                    1, min(_QUANTITIES[(index + n) % len(_QUANTITIES)], product.stock // 2)
                ),
            )
        )
    return tuple(deals)


def _title(index: int, theme: str, lead: CatalogProduct, deals: Sequence[PlannedDealSpec]) -> str:
    label = THEME_LABELS[theme]
    styles = (
        f"[K-MAS 라이브] {label} 크리스마스 특가",
        f"{lead.maker} · {lead.name} 크리스마스 라이브",
        f"연말 선물은 {label}! 최대 {max((d.discount_pct for d in deals), default=0)}% 할인"
        if deals
        else f"연말 선물은 {label}!",
        f"{lead.name} 산지 직송 라이브",
        f"산타가 고른 {label} — {lead.maker}",
    )
    return styles[index % len(styles)]


def _description(
    theme: str, lineup: Sequence[CatalogProduct], platform_ko: str | None, deals: Sequence[object]
) -> str:
    lead = lineup[0]
    parts = [
        f"{lead.region} {lead.maker} 등 소상공인 {len(lineup)}곳이 준비한 "
        f"{THEME_LABELS[theme]} 라이브입니다.",
        f"{platform_ko} 동시 송출." if platform_ko else "LiveMarket 단독 방송.",
        "방송 중 플래시 특가가 열립니다!" if deals else "방송 중 깜짝 특가를 기대해 주세요.",
    ]
    return " ".join(parts)


def plan_programmes(
    catalog: Sequence[CatalogProduct],
    count: int,
    *,
    discount_cap_pct: int = 50,
) -> list[Programme]:
    """The season's ``count`` programmes in airing order; every product gets air time."""
    names_ko = {p.slug: p.name_ko for p in PLATFORMS}
    by_theme: dict[str, list[CatalogProduct]] = defaultdict(list)
    for product in catalog:
        by_theme[product.theme].append(product)
    too_small = sorted(t for t, ps in by_theme.items() if len(ps) < MIN_LINEUP)
    if too_small:
        raise ValueError(f"themes with fewer than {MIN_LINEUP} products: {too_small}")
    next_of = dict.fromkeys(by_theme, 0)
    programmes = []
    for index, theme in enumerate(_theme_order(_apportion(
        {t: len(ps) for t, ps in by_theme.items()}, count
    ))):  # fmt: skip
        pool = by_theme[theme]
        size = min(MIN_LINEUP + index % (MAX_LINEUP - MIN_LINEUP + 1), len(pool))
        lineup = [pool[(next_of[theme] + k) % len(pool)] for k in range(size)]
        next_of[theme] += size
        duration = timedelta(minutes=_DURATIONS_MIN[index % len(_DURATIONS_MIN)])
        platform = _PLATFORM_CYCLE[index % len(_PLATFORM_CYCLE)]
        deals = _deals(index, lineup, duration, discount_cap_pct)
        programmes.append(
            Programme(
                theme=theme,
                title=_title(index, theme, lineup[0], deals),
                description=_description(
                    theme, lineup, names_ko[platform] if platform else None, deals
                ),
                skus=tuple(p.sku for p in lineup),
                platform_slug=platform,
                duration=duration,
                deals=deals,
            )
        )
    return programmes
