"""Who is asking, and what each kind of person may do: the one place role rules live."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    HOST = "host"
    OPERATOR = "operator"


class Access(Enum):
    """What a route needs; every route declares one."""

    PUBLIC = "public"  # anyone, no session needed
    VIEWER = "viewer"  # any session, anonymous viewers included
    HOST = "host"  # a logged-in host or operator (per-special checks come on top)
    OPERATOR = "operator"  # a logged-in operator


@dataclass(frozen=True, slots=True)
class Principal:
    """The person behind a request: a logged-in user or an anonymous viewer."""

    role: Role
    #: Stable key for chat, bans and buyer limits: ``user:<id>`` or a random viewer id.
    viewer_key: str
    nickname: str
    user_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.HOST, Role.OPERATOR)


ANONYMOUS = Principal(role=Role.VIEWER, viewer_key="", nickname="")


def allows(access: Access, principal: Principal) -> bool:
    """True when ``principal`` meets ``access``."""
    if access is Access.PUBLIC:
        return True
    if access is Access.VIEWER:
        return bool(principal.viewer_key)
    if access is Access.HOST:
        return principal.role in (Role.HOST, Role.OPERATOR)
    return principal.role is Role.OPERATOR


def can_run_special(principal: Principal, host_id: int) -> bool:
    """Only a special's own host, or an operator, publishes, deals and moderates in it."""
    return principal.role is Role.OPERATOR or (
        principal.role is Role.HOST and principal.user_id == host_id
    )
