"""Scenario files: the shipped ones load, the demo keeps its contract, bad files fail clearly."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data.scenario import (
    CAUSE_KINDS,
    SCENARIO_DIR,
    ScenarioError,
    load_scenario,
    shipped_scenarios,
)

CXAGENT = Path(sys.executable).with_name("cxagent")

VALID_HEADER = """\
name: broken
seed: 1
start: 2025-12-06
days: 10
orders_per_day: 1000
"""


def _with_intervention(body: str) -> str:
    return VALID_HEADER + "interventions:\n" + body


# Each bad file: its text (None = the file does not exist) and what the error must name.
BAD_SCENARIOS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "unknown_kind": (
        _with_intervention("  - kind: solar_flare\n    onset: 2025-12-08T00:00\n"),
        ("interventions.0.kind",),
    ),
    "bad_date_string": (
        _with_intervention("  - kind: prep_time_drift\n    onset: next tuesday\n"),
        ("interventions.0.onset",),
    ),
    "bad_start_date": (
        VALID_HEADER.replace("2025-12-06", "2025-11-31"),
        ("start",),
    ),
    "unknown_region": (
        _with_intervention(
            "  - kind: prep_time_drift\n    onset: 2025-12-08T00:00\n    scope: {region: [mars]}\n"
        ),
        ("interventions.0.scope.region", "mars"),
    ),
    "unknown_category": (
        _with_intervention(
            "  - kind: prep_time_drift\n    onset: 2025-12-08T00:00\n"
            "    scope: {category: [pharmacy]}\n"
        ),
        ("interventions.0.scope.category", "pharmacy"),
    ),
    "hour_out_of_range": (
        _with_intervention(
            "  - kind: prep_time_drift\n    onset: 2025-12-08T00:00\n    scope: {hours: [24]}\n"
        ),
        ("interventions.0.scope.hours",),
    ),
    "negative_magnitude": (
        _with_intervention(
            "  - kind: prep_time_drift\n    onset: 2025-12-08T00:00\n    magnitude: -0.5\n"
        ),
        ("interventions.0.magnitude",),
    ),
    "onset_outside_the_data": (
        _with_intervention("  - kind: prep_time_drift\n    onset: 2026-02-01T00:00\n"),
        ("interventions.0.onset", "outside the data"),
    ),
    "end_before_onset": (
        _with_intervention(
            "  - kind: prep_time_drift\n    onset: 2025-12-08T00:00\n    end: 2025-12-07T00:00\n"
        ),
        ("interventions.0", "end"),
    ),
    "misspelled_field": (
        VALID_HEADER.replace("orders_per_day", "orders_per_dya"),
        ("orders_per_dya",),
    ),
    "not_a_mapping": ("- kind: prep_time_drift\n- kind: demand_surge\n", ("mapping",)),
    "invalid_yaml": (VALID_HEADER + "interventions: [unclosed\n", ("not valid YAML",)),
    "missing_file": (None, ("no scenario file",)),
}


def _scenario_file(directory: Path, case: str) -> Path:
    text, _ = BAD_SCENARIOS[case]
    path = directory / f"{case}.yaml"
    if text is not None:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", shipped_scenarios())
def test_shipped_scenario_loads_and_uses_only_known_kinds(name: str) -> None:
    scenario = load_scenario(name)

    assert scenario.name == name
    assert all(intervention.kind in CAUSE_KINDS for intervention in scenario.interventions)


def test_every_cause_kind_has_a_shipped_single_cause_scenario() -> None:
    for kind in CAUSE_KINDS:
        scenario = load_scenario(kind)
        assert [intervention.kind for intervention in scenario.interventions] == [kind]


def test_null_scenario_has_no_interventions() -> None:
    assert load_scenario("null").interventions == []


def test_loading_by_path_equals_loading_by_name() -> None:
    assert load_scenario(SCENARIO_DIR / "demo.yaml") == load_scenario("demo")


def test_demo_scenario_matches_the_design_contract() -> None:
    demo = load_scenario("demo")

    assert demo.start == dt.date(2025, 12, 6)
    assert demo.days == 31
    assert demo.end == dt.date(2026, 1, 5)
    batching, drift = demo.interventions
    assert batching.kind == "batching_threshold"
    assert batching.logged
    assert batching.onset.date() == dt.date(2026, 1, 3)
    assert batching.magnitude > 0
    assert batching.scope.as_filters() == {"category": ["grocery"], "hours": [18, 19, 20]}
    assert drift.kind == "prep_time_drift"
    assert drift.magnitude > 0
    assert batching.onset <= drift.onset <= dt.datetime(2026, 1, 4)
    assert drift.scope == batching.scope


def test_a_name_that_is_also_a_directory_still_loads_the_shipped_scenario(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `cxagent generate --scenario demo --out demo` run twice: the second run sees ./demo/.
    (tmp_path / "demo").mkdir()
    monkeypatch.chdir(tmp_path)

    assert load_scenario("demo") == load_scenario(SCENARIO_DIR / "demo.yaml")


# A CLI run costs about two seconds of imports, so the CLI sees one file per distinct error
# path in load_scenario: a field error, a non-mapping, broken YAML and a missing file.
CLI_CASES = ["unknown_kind", "not_a_mapping", "invalid_yaml", "missing_file"]


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_bad_scenario_file_raises_an_error_naming_the_field(case: str, tmp_path: Path) -> None:
    path = _scenario_file(tmp_path, case)
    _, expected = BAD_SCENARIOS[case]

    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)

    message = str(raised.value)
    for fragment in expected:
        assert fragment in message
    assert str(path) in message


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int, str, str]]:
    """`cxagent generate` on each of CLI_CASES: case -> (out dir, exit code, stdout, stderr).

    The runs are started together because each pays about two seconds of imports.
    """
    directory = tmp_path_factory.mktemp("bad-scenarios")
    environment = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    started = {}
    for case in CLI_CASES:
        out_dir = directory / f"{case}-world"
        command = [
            str(CXAGENT),
            "generate",
            "--scenario",
            str(_scenario_file(directory, case)),
            "--out",
            str(out_dir),
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
        )
        started[case] = (out_dir, process)
    runs = {}
    for case, (out_dir, process) in started.items():
        stdout, stderr = process.communicate(timeout=120)
        runs[case] = (out_dir, process.returncode, stdout, stderr)
    return runs


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_rejects_bad_scenario_with_exit_code_2_and_a_short_error(
    case: str, cli_runs: dict[str, tuple[Path, int, str, str]]
) -> None:
    out_dir, code, stdout, stderr = cli_runs[case]
    _, expected = BAD_SCENARIOS[case]

    assert code == 2
    assert "Traceback" not in stdout + stderr
    assert stderr.startswith("error:")
    for fragment in expected:
        assert fragment in stderr
    # One line per problem; a YAML error adds the offending line and a caret.
    assert len(stderr.strip().splitlines()) <= 8
    assert not out_dir.exists()
