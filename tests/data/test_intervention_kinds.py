"""The intervention-kind registry: one module per kind under data/interventions/kinds/."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import data
from data.interventions import KINDS, InterventionKind, kind_spec, registry
from data.interventions import kinds as kinds_package
from data.interventions.base import SCOPE_FIELDS
from data.random_scenarios import random_scenario
from data.scenario import CAUSE_KINDS, ScenarioError, parse_scenario

DATA_DIR = Path(data.__file__).parent
KINDS_DIR = Path(kinds_package.__file__).parent

NEW_KIND_MODULE = """
from data.interventions.base import ChangeSpec, InterventionKind

KIND = InterventionKind(
    name="solar_flare",
    position=99,
    description="a test kind that changes nothing.",
    change=ChangeSpec("ops", "solar_shield", "on", "Turned the solar shield off"),
    apply_to_orders=None,
    random_logged_share=0.5,
    random_scopes=(("region",),),
)
"""


def _scenario_with(intervention: dict[str, object]) -> dict[str, object]:
    return {
        "name": "kinds",
        "start": "2025-12-06",
        "days": 5,
        "orders_per_day": 100,
        "interventions": [intervention],
    }


def test_every_kind_module_is_registered_under_its_own_name() -> None:
    modules = sorted(p.stem for p in KINDS_DIR.glob("*.py") if p.stem != "__init__")

    assert sorted(KINDS) == modules
    assert all(spec.name == name for name, spec in KINDS.items())


def test_cause_kinds_keep_the_vocabulary_order_of_their_positions() -> None:
    assert CAUSE_KINDS[:6] == (
        "batching_threshold",
        "prep_time_drift",
        "dasher_shortage",
        "inventory_drop",
        "eta_model_bias",
        "demand_surge",
    )
    positions = [KINDS[name].position for name in CAUSE_KINDS]
    assert positions == sorted(set(positions))


def test_adding_a_module_adds_a_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "solar_flare.py").write_text(NEW_KIND_MODULE)
    monkeypatch.setattr(kinds_package, "__path__", [*kinds_package.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "data.interventions.kinds.solar_flare", raising=False)
    try:
        discovered = registry._discover()
    finally:
        sys.modules.pop("data.interventions.kinds.solar_flare", None)

    assert list(discovered)[-1] == "solar_flare"
    assert list(discovered)[:-1] == list(KINDS)
    assert isinstance(discovered["solar_flare"], InterventionKind)


def test_unknown_kind_lookup_names_the_known_kinds() -> None:
    with pytest.raises(KeyError, match="batching_threshold"):
        kind_spec("solar_flare")


@pytest.mark.parametrize("kind", CAUSE_KINDS)
def test_random_scope_templates_use_drawn_filters_the_kind_accepts(kind: str) -> None:
    spec = KINDS[kind]

    assert spec.random_scopes
    assert 0.0 <= spec.random_logged_share <= 1.0
    for template in spec.random_scopes:
        assert set(template) <= {"region", "category", "hours"} & set(spec.scope_fields)
    assert random_scenario(7, kind=kind, orders_per_day=100).interventions[0].kind == kind


def test_a_shortage_scoped_by_category_is_rejected_naming_the_filters_it_takes() -> None:
    intervention = {
        "kind": "dasher_shortage",
        "onset": "2025-12-08T00:00",
        "scope": {"category": "grocery"},
    }

    with pytest.raises(ScenarioError, match="dasher_shortage applies to regions and hours"):
        parse_scenario(_scenario_with(intervention))


@pytest.mark.parametrize("kind", [k for k in CAUSE_KINDS if KINDS[k].scope_fields == SCOPE_FIELDS])
def test_a_kind_without_a_scope_rule_accepts_every_filter(kind: str) -> None:
    scope = {"region": "west", "category": "grocery", "store_ids": ["S0001"], "hours": [18]}
    intervention = {"kind": kind, "onset": "2025-12-08T00:00", "scope": scope}

    assert parse_scenario(_scenario_with(intervention)).interventions[0].kind == kind


def test_no_data_module_outside_the_kind_modules_branches_on_a_kind_name() -> None:
    names = "|".join(CAUSE_KINDS)
    branch = re.compile(rf"""kind\s*(==|!=|in)\s*\(?["']({names})["']""")
    offenders = [
        f"{path.relative_to(DATA_DIR)}:{number}"
        for path in DATA_DIR.rglob("*.py")
        if path.parent != KINDS_DIR
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if branch.search(line)
    ]

    assert offenders == []
