"""What the analysis knows about a cause kind: the hypothesis that tests it and how it is named.

A kind's module in this package declares one `CauseSpec` as `CAUSE`: its hypothesis, and the
drivers and actions only it needs; the registry (`tools.causes.CAUSES`) collects them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from analytics.drivers import DriverSpec
from tools.action_spec import ActionSpec


@dataclass(frozen=True)
class DriverCheck:
    """A driver and the direction it should move (+1 up, -1 down) if the hypothesis holds."""

    driver: str
    direction: int
    why: str


@dataclass(frozen=True)
class Fallback:
    """Another way to test a hypothesis when the data it `needs` is absent (real logs)."""

    needs: tuple[str, ...]
    primary: DriverCheck
    supporting: tuple[DriverCheck, ...]
    note: str


@dataclass(frozen=True)
class Hypothesis:
    """A root-cause hypothesis and how to test it.

    It declares the data it needs, the drivers that test it (a primary driver that must move the
    expected way, supporting drivers, refuting drivers that must not move), the order features
    the driver decomposition credits to it, and the change-log names that would implement it.
    The tools that test it follow from these (driver_shift for drivers, change_log and
    diff_in_diff for logged changes, shap_attribution for the features).
    """

    kind: str
    title: str
    mechanism: str
    needs: tuple[str, ...]
    primary: DriverCheck
    supporting: tuple[DriverCheck, ...] = ()
    refuting: tuple[DriverCheck, ...] = ()
    features: tuple[str, ...] = ()
    change_names: tuple[str, ...] = ()
    fallback: Fallback | None = None
    words: tuple[str, ...] = ()  # how an answer names this cause ("batching"), lower case
    # how a question names it ("was it the dashers?"): a regular expression over lower case
    asked: str = ""

    def for_data(self, present: Collection[str]) -> tuple[Hypothesis, str | None]:
        """This hypothesis as testable on data holding the 'table.column's `present`: its
        fallback test when its own data is missing and the fallback's is there (with a note)."""
        fallback = self.fallback
        if fallback is None or all(n in present for n in self.needs):
            return self, None
        if not all(n in present for n in fallback.needs):
            return self, None
        adapted = replace(
            self, needs=fallback.needs, primary=fallback.primary, supporting=fallback.supporting
        )
        return adapted, f"{self.kind}: {fallback.note}"

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools that test this hypothesis."""
        return ("driver_shift", "change_log", "diff_in_diff", "shap_attribution")


@dataclass(frozen=True)
class CauseSpec:
    """One cause kind as the analysis knows it."""

    hypothesis: Hypothesis
    """How the kind is tested; its `kind` is the kind's name (the module's name too)."""
    plain: str
    """The cause in business terms, for the product manager's brief ('stores are taking longer
    to prepare orders')."""
    short: str
    """A short name for narrow tables such as the eval report's ('prep')."""
    position: int
    """Where the kind sits in the hypothesis library: earlier kinds come first when causes rank
    equal. Unique across kinds; leave gaps (10, 20, ...) so a new kind can go between."""
    drivers: tuple[DriverSpec, ...] = ()
    """Drivers only this kind reads (the general ones are analytics.drivers.DRIVERS); they join
    that registry when the cause library loads."""
    actions: tuple[ActionSpec, ...] = ()
    """Actions only this kind needs, with their what-ifs; they join the action library
    (tools.actions.ACTIONS) after the general actions."""

    @property
    def kind(self) -> str:
        """The cause kind: the scenario's intervention kind and the hypothesis id."""
        return self.hypothesis.kind
