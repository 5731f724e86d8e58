"""Shared fixtures: small synthetic worlds, generated once per session and reused across tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from data.generator import generate_world
from data.scenario import Scenario, load_scenario

# Small enough that a 28-day world generates in about a second, large enough for the effects of
# a magnitude-1.0 intervention to stand well clear of the noise.
SMALL_ORDERS_PER_DAY = 3000

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]


@pytest.fixture(scope="session", autouse=True)
def _no_result_store() -> Iterator[None]:
    """Tool results are not kept on disk (CXAGENT_RESULT_CACHE=off): the session's worlds are
    shared between tests, and a test counting tool runs must not find another test's results.
    Tests of the result store turn it on for their own worlds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CXAGENT_RESULT_CACHE", "off")
        yield


@pytest.fixture(scope="session")
def small_scenario() -> ScenarioFactory:
    """A shipped scenario shrunk to SMALL_ORDERS_PER_DAY, with any other fields overridden.

    Overrides are validated like the CLI's (`small_scenario("demo", days=10)` fails if that
    puts an intervention outside the data).
    """

    def shrink(name: str, **overrides: object) -> Scenario:
        scenario = load_scenario(name)
        fields = {"orders_per_day": SMALL_ORDERS_PER_DAY, **overrides}
        return Scenario.model_validate({**scenario.model_dump(), **fields})

    return shrink


@pytest.fixture(scope="session")
def make_world(tmp_path_factory: pytest.TempPathFactory) -> WorldFactory:
    """Generate a scenario's world once per session; the same scenario returns the same directory.

    Worlds are shared between tests: treat them as read-only.
    """
    worlds: dict[str, Path] = {}

    def make(scenario: Scenario) -> Path:
        key = scenario.model_dump_json()
        if key not in worlds:
            out_dir = tmp_path_factory.mktemp(f"world-{scenario.name}") / "world"
            generate_world(scenario, out_dir)
            worlds[key] = out_dir
        return worlds[key]

    return make


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    """One local Spark session (local[2]) for every Spark test module: the JVM starts once and
    is warm for the next module. Skips without Java. Modules register their own views and
    clear Spark's cache when they end (`spark_views`)."""
    from data.engines.spark_engine import java_available, start_spark

    if not java_available():
        pytest.skip("Spark needs Java 17+ (no `java`): `make java` installs it")
    session = start_spark("local[2]")
    yield session
    session.stop()
