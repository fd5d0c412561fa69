"""Who and where of the demo season: hosts, the demo operator and partner platforms.

Passwords are not here: the seed generates them at random on first run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    display_name: str
    role: str  # "operator" | "host"


@dataclass(frozen=True, slots=True)
class DemoPlatform:
    """A partner shopping platform; a special with no platform airs on our own site only."""

    slug: str
    name: str
    name_ko: str
    url: str


DEMO_OPERATOR = DemoUser("demo-operator", "데모 운영자", "operator")

#: The host a newcomer logs in as: hosts the special that is live when the season is seeded.
DEMO_HOST = DemoUser("demo-host", "한별 (데모 호스트)", "host")

HOSTS: tuple[DemoUser, ...] = (
    DEMO_HOST,
    DemoUser("host1", "김하늘", "host"),
    DemoUser("host2", "이서준", "host"),
    DemoUser("host3", "박지민", "host"),
    DemoUser("host4", "최유나", "host"),
    DemoUser("host5", "정민호", "host"),
    DemoUser("host6", "강수빈", "host"),
    DemoUser("host7", "윤다은", "host"),
    DemoUser("host8", "장태현", "host"),
)

USERS: tuple[DemoUser, ...] = (DEMO_OPERATOR, *HOSTS)

NAVER = DemoPlatform(
    "naver-shopping-live",
    "Naver Shopping Live",
    "네이버 쇼핑라이브",
    "https://shoppinglive.naver.com",
)
GRIP = DemoPlatform("grip", "Grip", "그립", "https://www.grip.show")
SHINSEGAE = DemoPlatform(
    "shinsegae-tv-shopping",
    "Shinsegae TV Shopping",
    "신세계TV쇼핑",
    "https://www.shinsegaetvshopping.com",
)
HOME_AND_SHOPPING = DemoPlatform(
    "home-and-shopping", "Home&Shopping", "홈앤쇼핑", "https://www.hnsmall.com"
)

PLATFORMS: tuple[DemoPlatform, ...] = (NAVER, GRIP, SHINSEGAE, HOME_AND_SHOPPING)
