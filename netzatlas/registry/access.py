"""Who a database connection works for: the caller that row-level security (migration 0006) reads.

Every connection of the application states its caller in two settings, `netzatlas.caller` and
`netzatlas.operator`, and the policies of the tables decide which rows exist for it. The caller of
the running code is a context variable:
- a web request sets it (anonymous first, then the key's principal), and every connection taken
  from the pool or opened with `db.connect` during the request states it;
- code outside a request (the CLI, coverage jobs) has none set and acts as `SYSTEM`, which reads
  every row: the engine must see every input, and its results carry the inputs' sensitivity.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

CALLERS = ("", "partner", "planner", "admin", "system", "system-public")


@dataclass(frozen=True)
class Caller:
    role: str  # one of CALLERS; "" is anonymous
    operator: str | None = None  # a partner's operator

    def __post_init__(self) -> None:
        if self.role not in CALLERS:
            raise ValueError(f"unknown caller {self.role!r}")


ANONYMOUS = Caller("")
SYSTEM = Caller("system")
# the coverage engine computing a run from public inputs only (a run published for everyone)
SYSTEM_PUBLIC = Caller("system-public")

STATE_SQL = "SELECT set_config('netzatlas.caller', %s, false), set_config('netzatlas.operator', %s, false)"
RESET_SQL = "SELECT set_config('netzatlas.caller', '', false), set_config('netzatlas.operator', '', false)"

_current: ContextVar[Caller | None] = ContextVar("netzatlas_caller", default=None)


def for_role(role: str, operator: str | None = None) -> Caller:
    """The caller of an API principal's role (anonymous, partner, planner, admin)."""
    if role == "anonymous":
        return ANONYMOUS
    return Caller(role, operator if role == "partner" else None)


def current() -> Caller:
    """The caller of the running code: the request's, or SYSTEM outside requests."""
    return _current.get() or SYSTEM


def set_current(caller: Caller) -> None:
    """State the caller for the rest of this context (a request: see api.caller)."""
    _current.set(caller)


@contextmanager
def acting_as(caller: Caller) -> Iterator[None]:
    token = _current.set(caller)
    try:
        yield
    finally:
        _current.reset(token)


def params(caller: Caller) -> tuple[str, str]:
    return caller.role, caller.operator or ""


def state(conn: Any, caller: Caller | None = None) -> None:
    """State the caller on a (sync) connection, for the session: it holds until stated again."""
    conn.execute(STATE_SQL, params(caller or current()))


SEES_ALL = frozenset({"planner", "admin", "system"})


def sees_run_details(run_sensitivity: str, caller: Caller | None = None) -> bool:
    """Whether the caller may have a run's rasters and their previews. Rows of results follow the policies of
    migration 0006; files have no rows, so this is the same rule for them: the run's own sensitivity decides,
    and publishing a run opens its aggregates (100 m cells, districts), never its rasters."""
    return run_sensitivity == "public" or (caller or current()).role in SEES_ALL
