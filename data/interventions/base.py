"""The typed spec of an intervention kind: everything the generator knows about one root cause."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from data import world_config as cfg

SCOPE_FIELDS = ("region", "category", "store_ids", "hours")
_SCOPE_NOUNS = {
    "region": "regions",
    "category": "categories",
    "store_ids": "stores",
    "hours": "hours",
}

# Extra orders (kinds with `order_acceptance`) are drawn per (region, category, hour) cell from a
# candidate pool of this share of the cell's expected demand, from the cell's own random stream.
CANDIDATE_POOL_SHARE = 0.75


@dataclass
class OrderEffects:
    """Per-order parameters after every active intervention is applied."""

    batching_threshold_min: np.ndarray
    prep_factor: np.ndarray
    oos_factor: np.ndarray
    eta_bias_min: np.ndarray
    new_eta_model: np.ndarray
    surge_load_factor: np.ndarray
    drive_factor: np.ndarray  # multiplier on drive minutes (weather)
    touched: list[np.ndarray]  # per intervention: orders it changed (empty when magnitude is 0)

    @classmethod
    def neutral(cls, n: int) -> OrderEffects:
        """The parameters of `n` orders that no intervention touches."""
        return cls(
            batching_threshold_min=np.full(n, cfg.BATCHING_THRESHOLD_MIN),
            prep_factor=np.ones(n),
            oos_factor=np.ones(n),
            eta_bias_min=np.zeros(n),
            new_eta_model=np.zeros(n, dtype=bool),
            surge_load_factor=np.ones(n),
            drive_factor=np.ones(n),
            touched=[],
        )


def _updated(magnitude: float) -> str:
    return "updated"


@dataclass(frozen=True)
class ChangeSpec:
    """How a logged intervention of a kind appears in the `changes` table.

    `new_value` maps the intervention's magnitude to the row's new_value text.
    """

    change_kind: str  # policy | model | ops | merchant
    name: str
    old_value: str
    description: str
    new_value: Callable[[float], str] = _updated


@dataclass(frozen=True)
class Weather:
    """Hourly conditions in a region: what a kind with a `weather` hook writes to the `weather`
    table for the region-hours in its scope."""

    condition: str  # clear | rain | storm
    precipitation_mm: float  # per hour
    wind_kph: float


# Changes the masked orders' effect parameters in place: (effects, orders in scope, magnitude).
ApplyToOrders = Callable[[OrderEffects, np.ndarray, float], None]


@dataclass(frozen=True)
class InterventionKind:
    """One intervention kind, declared once in its own module under data/interventions/kinds/.

    Parameters
    ----------
    name
        The kind's name in scenarios, truth.json and hypotheses; equal to its module's name.
    position
        Its place in the vocabulary (`CAUSE_KINDS`); random scenarios draw kinds in this order,
        so a new kind takes the next free number and existing ones keep theirs.
    description
        What magnitude 1.0 means and what the kind changes in the world.
    change
        Its row in the `changes` table when the intervention is logged.
    apply_to_orders
        Sets the per-order effect parameters of the orders in its scope; None for kinds that
        reach orders only through a hook below (a supply change).
    random_logged_share
        Probability that a random scenario of this kind logs it in `changes`.
    random_scopes
        Scope templates for random scenarios: each names the drawn filters it uses (of region,
        category, hours); one template is picked per scenario.
    random_duration_days
        (low, high): a random scenario's intervention ends after low..high-1 days; None lasts.
    scope_fields
        The scope filters the kind accepts; scenario validation rejects the others.
    supply_factor
        Hook for kinds that change supply: magnitude -> multiplier on online dashers in the
        region-hours in scope. The orders it touches are those of the changed region-hours
        (`apply_to_orders` is not called for such a kind).
    order_acceptance
        Hook for kinds that add orders: magnitude -> share of each in-scope cell's candidate pool
        (`CANDIDATE_POOL_SHARE` of its expected demand) that becomes real orders.
    inventory_oos_factor
        Hook for kinds that change inventory: magnitude -> multiplier on the out-of-stock
        probability of the stock checks in scope (the inventory model's estimates follow it).
    weather
        Hook for kinds that are weather: magnitude -> the conditions written to the `weather`
        table in the region-hours in scope (every other region-hour keeps its background
        weather, which changes nothing in the world).
    random_draw
        Whether random scenarios draw this kind. A kind added after the random scenarios were
        fixed is not drawn, so that every existing seed keeps its world.
    """

    name: str
    position: int
    description: str
    change: ChangeSpec
    apply_to_orders: ApplyToOrders | None
    random_logged_share: float
    random_scopes: tuple[tuple[str, ...], ...]
    random_duration_days: tuple[int, int] | None = None
    scope_fields: tuple[str, ...] = SCOPE_FIELDS
    supply_factor: Callable[[float], float] | None = None
    order_acceptance: Callable[[float], float] | None = None
    inventory_oos_factor: Callable[[float], float] | None = None
    weather: Callable[[float], Weather] | None = None
    random_draw: bool = True

    def scope_error(self, filters: Iterable[str]) -> str | None:
        """Why a scope with these (non-empty) filters does not suit this kind, or None."""
        if set(filters) <= set(self.scope_fields):
            return None
        nouns = " and ".join(_SCOPE_NOUNS[name] for name in self.scope_fields)
        return f"{self.name} applies to {nouns}; scope it by those only"
