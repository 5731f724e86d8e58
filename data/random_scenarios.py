"""Random single-cause scenarios: a kind, a plausible scope, an onset, a magnitude and a seed.

Used to measure root-cause accuracy beyond the hand-written scenarios. Scopes follow what each
kind looks like in practice (a shortage hits a region at some hours, an inventory feed hits a
category in a region, a model deploy hits a region or a category, ...): each kind's module in
data/interventions/kinds/ declares its scope templates, logged share and duration.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from data.interventions.registry import kind_spec
from data.scenario import CAUSE_KINDS, Scenario, parse_scenario
from data.world_config import CATEGORIES, REGIONS

HOUR_BLOCKS = ((11, 12, 13), (11, 12, 13, 14), (17, 18, 19), (17, 18, 19, 20), (18, 19, 20))


def _scope(kind: str, rng: np.random.Generator) -> dict[str, list]:
    drawn: dict[str, list] = {
        "region": [str(rng.choice(REGIONS))],
        "category": [str(rng.choice(CATEGORIES))],
        "hours": [int(h) for h in HOUR_BLOCKS[rng.integers(len(HOUR_BLOCKS))]],
    }
    templates = kind_spec(kind).random_scopes
    return {name: drawn[name] for name in templates[rng.integers(len(templates))]}


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
    kind = kind or str(rng.choice([k for k in CAUSE_KINDS if kind_spec(k).random_draw]))
    scope = _scope(kind, rng)
    onset_day = start + dt.timedelta(days=int(rng.integers(days - 9, days - 3)))
    first_hour = min(scope.get("hours", [int(rng.integers(8, 11))]))
    onset = dt.datetime.combine(onset_day, dt.time(first_hour))
    intervention: dict[str, object] = {
        "kind": kind,
        "onset": onset.isoformat(),
        "scope": scope,
        "magnitude": round(float(rng.uniform(*magnitude_range)), 2),
        "logged": bool(rng.random() < kind_spec(kind).random_logged_share),
    }
    duration_days = kind_spec(kind).random_duration_days
    if duration_days is not None:
        days_on = int(rng.integers(*duration_days))
        intervention["end"] = (onset + dt.timedelta(days=days_on)).isoformat()
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
