"""Random single-cause scenarios: a kind, a plausible scope, an onset, a magnitude and a seed.

Used to measure root-cause accuracy beyond the hand-written scenarios. Scopes follow what each
kind looks like in practice (a shortage hits a region at some hours, an inventory feed hits a
category in a region, a model deploy hits a region or a category, ...).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from data.scenario import CAUSE_KINDS, Scenario, parse_scenario
from data.world_config import CATEGORIES, REGIONS

HOUR_BLOCKS = ((11, 12, 13), (11, 12, 13, 14), (17, 18, 19), (17, 18, 19, 20), (18, 19, 20))
LOGGED_SHARE = {
    "batching_threshold": 0.8,
    "prep_time_drift": 0.2,
    "dasher_shortage": 0.3,
    "inventory_drop": 0.6,
    "eta_model_bias": 0.9,
    "demand_surge": 0.1,
}


def _scope(kind: str, rng: np.random.Generator) -> dict[str, list]:
    region = [str(rng.choice(REGIONS))]
    category = [str(rng.choice(CATEGORIES))]
    hours = [int(h) for h in HOUR_BLOCKS[rng.integers(len(HOUR_BLOCKS))]]
    choices = {
        "batching_threshold": [
            {"region": region, "hours": hours},
            {"category": category, "hours": hours},
        ],
        "prep_time_drift": [
            {"region": region, "category": category},
            {"category": category, "hours": hours},
        ],
        "dasher_shortage": [{"region": region, "hours": hours}, {"region": region}],
        "inventory_drop": [{"region": region, "category": category}, {"category": category}],
        "eta_model_bias": [{"region": region}, {"category": category}],
        "demand_surge": [{"region": region, "hours": hours}],
    }[kind]
    return choices[rng.integers(len(choices))]


def random_scenario(
    seed: int,
    kind: str | None = None,
    magnitude_range: tuple[float, float] = (0.7, 1.5),
    days: int = 28,
    orders_per_day: int = 12000,
    start: dt.date = dt.date(2025, 12, 6),
) -> Scenario:
    """One random single-cause scenario, deterministic per seed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 31_337]))
    kind = kind or str(rng.choice(CAUSE_KINDS))
    scope = _scope(kind, rng)
    onset_day = start + dt.timedelta(days=int(rng.integers(days - 9, days - 3)))
    first_hour = min(scope.get("hours", [int(rng.integers(8, 11))]))
    onset = dt.datetime.combine(onset_day, dt.time(first_hour))
    intervention: dict[str, object] = {
        "kind": kind,
        "onset": onset.isoformat(),
        "scope": scope,
        "magnitude": round(float(rng.uniform(*magnitude_range)), 2),
        "logged": bool(rng.random() < LOGGED_SHARE[kind]),
    }
    if kind == "demand_surge":
        intervention["end"] = (onset + dt.timedelta(days=int(rng.integers(1, 4)))).isoformat()
    return parse_scenario(
        {
            "name": f"random-{seed}-{kind}",
            "seed": seed,
            "start": start.isoformat(),
            "days": days,
            "orders_per_day": orders_per_day,
            "interventions": [intervention],
        },
        f"random scenario {seed}",
    )
