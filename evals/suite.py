"""The seeded scenario suite: each scenario YAML beside its expected findings, loaded by one helper.

A case is two files in the suite directory: `NAME.yaml` (a scenario, the contract of DESIGN.md)
and `NAME.expected.yaml` (what the agent must find in that world, `ExpectedFindings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data.random_scenarios import random_scenario
from data.scenario import CauseKind, Scenario, ScenarioError, load_scenario
from tools.actions import ACTIONS

SUITE_DIR = Path(__file__).parent / "scenarios"
EXPECTED_SUFFIX = ".expected.yaml"


class SuiteError(ValueError):
    """A suite that cannot be used; the message names the file and the problem."""


class ExpectedFindings(BaseModel):
    """What the agent must report for one scenario; a field left None is reported, not checked."""

    model_config = ConfigDict(extra="forbid")

    question: str  # asked first in a fresh thread
    incident: bool = True  # an incident on the true cause must be reported (False: none at all)
    causes: list[CauseKind] = Field(default_factory=list)  # true causes, the leading one first
    ordered: bool = True  # False: any of `causes` may lead (all must be in the top len(causes))
    ruled_out: list[CauseKind] = Field(default_factory=list)  # decoys: must not be supported
    slice: dict[str, list[str | int]] | None = None  # where the damage is (shown beside the found)
    min_slice_jaccard: float | None = Field(0.5, ge=0, le=1)  # top slice vs the true orders
    actions: list[str] = Field(default_factory=list)  # the top recommendation must be one of them
    max_detection_delay_hours: float | None = Field(6.0, ge=0)
    follow_up: str | None = None  # asked next in the same thread; must be answered, grounded

    @model_validator(mode="after")
    def _consistent(self) -> ExpectedFindings:
        unknown = [action for action in self.actions if action not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown actions {unknown}; known: {', '.join(ACTIONS)}")
        if self.incident and not self.causes:
            raise ValueError("an expected incident needs at least one cause")
        if not self.incident and (self.causes or self.actions):
            raise ValueError("no incident is expected, so no causes or actions can be")
        if set(self.causes) & set(self.ruled_out):
            raise ValueError("a kind cannot be both a cause and ruled out")
        return self


@dataclass(frozen=True)
class SuiteCase:
    """One scenario of the suite and its expected findings."""

    name: str
    scenario: Scenario
    expected: ExpectedFindings
    source: str  # where it came from: a file path, or "random seed N"


def load_expected(path: Path) -> ExpectedFindings:
    """Expected findings from YAML; SuiteError names the file and each bad field."""
    try:
        raw = yaml.safe_load(path.read_text())
        return ExpectedFindings.model_validate(raw)
    except yaml.YAMLError as error:
        raise SuiteError(f"{path}: not valid YAML: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in error.errors()
        )
        raise SuiteError(f"{path}: invalid expected findings: {problems}") from None


def check_against_scenario(case: SuiteCase) -> None:
    """Expected causes must be real interventions of the scenario, decoys must be inert."""
    real = {i.kind for i in case.scenario.interventions if i.magnitude > 0}
    inert = {i.kind for i in case.scenario.interventions if i.magnitude == 0}
    missing = [kind for kind in case.expected.causes if kind not in real]
    if missing:
        raise SuiteError(f"{case.source}: expected causes {missing} are not in the scenario")
    not_decoys = [kind for kind in case.expected.ruled_out if kind not in inert or kind in real]
    if not_decoys:
        raise SuiteError(f"{case.source}: ruled_out {not_decoys} are not decoys of the scenario")


def load_case(scenario_path: Path) -> SuiteCase:
    """A scenario file and the expected findings beside it."""
    expected_path = scenario_path.with_name(scenario_path.stem + EXPECTED_SUFFIX)
    if not expected_path.is_file():
        raise SuiteError(f"{scenario_path}: no expected findings beside it ({expected_path.name})")
    try:
        scenario = load_scenario(scenario_path)
    except ScenarioError as error:
        raise SuiteError(str(error)) from None
    case = SuiteCase(
        name=scenario_path.stem,
        scenario=scenario,
        expected=load_expected(expected_path),
        source=str(scenario_path),
    )
    check_against_scenario(case)
    return case


def load_suite(suite_dir: Path = SUITE_DIR, names: list[str] | None = None) -> list[SuiteCase]:
    """Every case of a suite directory (or the named ones), sorted by name."""
    suite_dir = Path(suite_dir)
    if not suite_dir.is_dir():
        raise SuiteError(f"no suite directory {suite_dir}")
    paths = sorted(p for p in suite_dir.glob("*.yaml") if not p.name.endswith(EXPECTED_SUFFIX))
    cases = [load_case(path) for path in paths]
    if names:
        known = {case.name for case in cases}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise SuiteError(
                f"no cases {unknown} in {suite_dir}; known: {', '.join(sorted(known))}"
            )
        cases = [case for case in cases if case.name in names]
    if not cases:
        raise SuiteError(f"{suite_dir} holds no scenarios")
    return cases


def actions_addressing(kind: str) -> list[str]:
    """Actions that undo a cause kind, else those that mitigate it."""
    undoing = [name for name, spec in ACTIONS.items() if kind in spec.undoes]
    return undoing or [name for name, spec in ACTIONS.items() if kind in spec.mitigates]


def random_cases(
    count: int,
    seed: int,
    orders_per_day: int,
    magnitude_range: tuple[float, float] = (0.7, 1.5),
) -> list[SuiteCase]:
    """Random single-cause scenarios (seeds seed .. seed + count - 1), each asked about its onset
    day; only the incident and the cause ranking are checked (the rest is reported)."""
    cases = []
    for scenario_seed in range(seed, seed + count):
        scenario = random_scenario(
            scenario_seed, magnitude_range=magnitude_range, orders_per_day=orders_per_day
        )
        intervention = scenario.interventions[0]
        onset = intervention.onset
        expected = ExpectedFindings(
            question=f"why did CX drop on {onset:%b} {onset.day}?",
            causes=[intervention.kind],
            actions=actions_addressing(intervention.kind),
            min_slice_jaccard=None,
            max_detection_delay_hours=None,
        )
        cases.append(SuiteCase(scenario.name, scenario, expected, f"random seed {scenario_seed}"))
    return cases
