"""The cause-kind registry: one module per kind, discovered from tools/causes, read by the
hypothesis library, the PM brief, the eval table and the feedback form."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.attribution import FEATURES
from analytics.drivers import DRIVERS
from data.scenario import CAUSE_KINDS
from data.schema import TABLES
from evals.report import _kinds
from tools.causes import CAUSES, discover
from tools.hypotheses import LIBRARY
from watching.feedback import CAUSE_CHOICES, OTHER_CAUSE

# The library's order before the registry, with weather_disruption (added after it) before
# demand_surge: ties in ranking follow it, and a storm ties with the surge of orders it brings.
LIBRARY_ORDER = (
    "batching_threshold", "prep_time_drift", "dasher_shortage", "inventory_drop",
    "eta_model_bias", "weather_disruption", "demand_surge",
)  # fmt: skip


def test_every_scenario_kind_has_one_spec() -> None:
    assert sorted(CAUSES) == sorted(CAUSE_KINDS)
    assert all(spec.kind == kind for kind, spec in CAUSES.items())


def test_library_is_the_registry_hypotheses_in_their_old_order() -> None:
    assert tuple(LIBRARY) == LIBRARY_ORDER
    assert all(LIBRARY[kind] is CAUSES[kind].hypothesis for kind in LIBRARY)


def test_specs_have_distinct_short_names_and_positions() -> None:
    specs = CAUSES.values()
    assert len({spec.short for spec in specs}) == len(CAUSES)
    assert len({spec.position for spec in specs}) == len(CAUSES)
    assert all(spec.plain and spec.plain == spec.plain.strip() for spec in specs)


@pytest.mark.parametrize("kind", sorted(CAUSES))
def test_a_spec_names_only_known_drivers_features_and_columns(kind: str) -> None:
    hypothesis = CAUSES[kind].hypothesis
    checks = [hypothesis.primary, *hypothesis.supporting, *hypothesis.refuting]
    needs = list(hypothesis.needs)
    if hypothesis.fallback is not None:
        checks += [hypothesis.fallback.primary, *hypothesis.fallback.supporting]
        needs += hypothesis.fallback.needs
    assert {check.driver for check in checks} <= set(DRIVERS)
    assert all(check.direction in (-1, +1) for check in checks)
    assert set(hypothesis.features) <= set(FEATURES)
    for need in needs:
        table, column = need.split(".")
        assert column in TABLES[table].column_names, need


def test_eval_table_and_feedback_read_the_registry() -> None:
    assert _kinds(["prep_time_drift", "eta_model_bias", "unknown_kind"]) == (
        "prep, eta_model, unknown_kind"
    )
    assert (*LIBRARY_ORDER, OTHER_CAUSE) == CAUSE_CHOICES


def _package(root: Path, name: str, modules: dict[str, str]) -> Path:
    package = root / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module, source in modules.items():
        (package / f"{module}.py").write_text(textwrap.dedent(source))
    return package


def _spec_source(kind: str, position: int) -> str:
    return f"""
        from tools.causes.base import CauseSpec, DriverCheck, Hypothesis

        CAUSE = CauseSpec(
            hypothesis=Hypothesis(
                kind="{kind}",
                title="{kind}",
                mechanism="",
                needs=(),
                primary=DriverCheck("duration_min", +1, ""),
            ),
            plain="{kind}",
            short="{kind}",
            position={position},
        )
    """


@pytest.fixture
def package_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("kinds_")]:
        del sys.modules[name]


def test_a_new_module_is_a_new_kind_placed_by_its_position(package_root: Path) -> None:
    modules = {"storm": _spec_source("storm", 35), "heat": _spec_source("heat", 5)}
    package = _package(package_root, "kinds_ok", modules)
    specs = discover([str(package)], "kinds_ok")
    assert list(specs) == ["heat", "storm"]


def test_a_module_named_unlike_its_kind_is_refused(package_root: Path) -> None:
    package = _package(package_root, "kinds_misnamed", {"storm": _spec_source("hail", 10)})
    with pytest.raises(ValueError, match="declares kind 'hail'"):
        discover([str(package)], "kinds_misnamed")


def test_two_kinds_at_one_position_are_refused(package_root: Path) -> None:
    modules = {"storm": _spec_source("storm", 10), "heat": _spec_source("heat", 10)}
    package = _package(package_root, "kinds_tied", modules)
    with pytest.raises(ValueError, match="share the position"):
        discover([str(package)], "kinds_tied")


def test_a_module_without_a_spec_is_refused(package_root: Path) -> None:
    package = _package(package_root, "kinds_empty", {"storm": "NOT_A_SPEC = 1\n"})
    with pytest.raises(TypeError, match="must declare CAUSE"):
        discover([str(package)], "kinds_empty")
