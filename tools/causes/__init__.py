"""The cause-kind registry: one module per kind in this package, each declaring `CAUSE`.

Adding a kind is adding a module `<kind>.py` here (see CONTRIBUTING.md); nothing else lists the
kinds. `CAUSES` maps each kind to its spec, ordered by the specs' `position`; the drivers the
kinds declare join analytics.drivers.DRIVERS here (their actions: tools.actions.ACTIONS).
"""

from __future__ import annotations

from collections.abc import Iterable

from analytics.drivers import register_drivers
from data.discovery import module_entries
from data.scenario import CAUSE_KINDS
from tools.causes.base import CauseSpec


def discover(path: Iterable[str], package: str) -> dict[str, CauseSpec]:
    """Every kind module's `CAUSE` in the package `package` (its directories `path`), checked
    (named after its module, a unique position) and ordered by position."""
    return module_entries(
        path, package, "CAUSE", CauseSpec, lambda c: c.kind, lambda c: c.position, skip=("base",)
    )


CAUSES: dict[str, CauseSpec] = discover(__path__, __name__)
register_drivers([driver for cause in CAUSES.values() for driver in cause.drivers])

if set(CAUSES) != set(CAUSE_KINDS):
    raise RuntimeError(
        "every scenario cause kind needs a module in tools/causes and each module a scenario "
        f"kind: only in data/scenario.py {sorted(set(CAUSE_KINDS) - set(CAUSES))}, "
        f"only here {sorted(set(CAUSES) - set(CAUSE_KINDS))}"
    )
