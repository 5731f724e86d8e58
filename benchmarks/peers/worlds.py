"""The worlds of the comparison: the eval suite's, random single-cause ones (fixed seeds), the
null world the peers are tuned on, and the null worlds their false alarms are counted on."""

from __future__ import annotations

from data.scenario import Scenario, load_scenario
from evals.suite import SuiteCase, load_suite, random_cases

TUNING_SEED = 1  # data/scenarios/null.yaml at this seed; no scored world uses it
NULL_SEED = 7  # the shipped null world's seed (benchmarks/detection.py's first)
# benchmarks/detection.py's three volumes: orders per day -> days of data.
NULL_VOLUMES: dict[int, int] = {20_000: 31, 200: 63, 20: 63}


def comparison_cases(
    random_count: int, seed: int, orders_per_day: int, names: list[str] | None = None
) -> list[SuiteCase]:
    """The suite's cases (or the named ones), then `random_count` random single-cause cases
    from `seed` (as `cxagent eval --random N --seed S`)."""
    return [*load_suite(names=names), *random_cases(random_count, seed, orders_per_day)]


def _null(seed: int, orders_per_day: int, days: int) -> Scenario:
    base = load_scenario("null")
    return base.model_copy(
        update={
            "name": f"null-{orders_per_day}",
            "seed": seed,
            "orders_per_day": orders_per_day,
            "days": days,
        }
    )


def tuning_scenario() -> Scenario:
    """The null world every detection peer is tuned on, once (hourly grain)."""
    return _null(TUNING_SEED, 20_000, NULL_VOLUMES[20_000])


def null_scenarios() -> list[Scenario]:
    """The null worlds false alarms are counted on, at benchmarks/detection.py's volumes."""
    return [_null(NULL_SEED, volume, days) for volume, days in NULL_VOLUMES.items()]
