"""Cached worlds for evals: one directory per scenario content and generator version.

A world is keyed by a hash of the scenario (every field) and of the generator's source files, so
editing either regenerates it, and an unchanged scenario is generated once across runs.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from data.generator import MANIFEST_FILE, generate_world
from data.scenario import Scenario

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "evals"
GENERATOR_DIR = Path(__file__).resolve().parent.parent / "data"


def generator_fingerprint() -> str:
    """A hash of the world generator's source (data/*.py)."""
    digest = hashlib.sha256()
    for path in sorted(GENERATOR_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def world_key(scenario: Scenario) -> str:
    """The cache key of a scenario's world: its name and a hash of its content and generator."""
    digest = hashlib.sha256()
    digest.update(scenario.model_dump_json().encode())
    digest.update(generator_fingerprint().encode())
    return f"{scenario.name}-{digest.hexdigest()[:16]}"


def cached_world(scenario: Scenario, cache_dir: Path = DEFAULT_CACHE) -> tuple[Path, float]:
    """The scenario's world under `cache_dir/worlds`, generated if absent; seconds spent
    generating (0 when it was cached)."""
    out = Path(cache_dir) / "worlds" / world_key(scenario)
    if (out / MANIFEST_FILE).is_file():
        return out, 0.0
    started = time.perf_counter()
    generate_world(scenario, out)  # atomic: a crash leaves no half-written world
    return out, time.perf_counter() - started


def without_kinds(scenario: Scenario, kinds: list[str]) -> Scenario:
    """The scenario with every effective intervention of `kinds` removed (the exact
    counterfactual of those causes)."""
    kept = [i for i in scenario.interventions if not (i.kind in kinds and i.magnitude > 0)]
    return scenario.model_copy(
        update={"name": f"{scenario.name}-without-{'-'.join(kinds)}", "interventions": kept}
    )
