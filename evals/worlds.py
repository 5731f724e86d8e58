"""Cached worlds for evals: one directory per scenario content and generator version.

A world is keyed by a hash of the scenario (every field) and of the generator's source files, so
editing either regenerates it, and an unchanged scenario is generated once across runs.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

from data.generator import MANIFEST_FILE, generate_world
from data.scenario import Scenario

DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "evals"
GENERATOR_DIR = Path(__file__).resolve().parent.parent / "data"


def generator_fingerprint() -> str:
    """A hash of the world generator's source (every module under data/, the intervention
    kinds included; not the query engines of data/engines/, which read worlds)."""
    digest = hashlib.sha256()
    for path in sorted(GENERATOR_DIR.rglob("*.py")):
        if path.relative_to(GENERATOR_DIR).parts[0] == "engines":
            continue
        digest.update(path.relative_to(GENERATOR_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def world_key(scenario: Scenario, generator: str | None = None) -> str:
    """The cache key of a scenario's world: its name, the generator's fingerprint (`generator`,
    read from the source when None) and a hash of the scenario's content."""
    content = hashlib.sha256(scenario.model_dump_json().encode()).hexdigest()
    return f"{scenario.name}-{(generator or generator_fingerprint())[:8]}-{content[:12]}"


def prune_stale(worlds_dir: Path, generator: str | None = None) -> int:
    """Delete the cached worlds an older generator wrote (each generator change would otherwise
    leave a full set behind: tens of GB after a few weeks). Returns how many were deleted."""
    current = f"-{(generator or generator_fingerprint())[:8]}-"
    stale = [p for p in worlds_dir.iterdir() if p.is_dir() and current not in p.name]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def cached_world(scenario: Scenario, cache_dir: Path = DEFAULT_CACHE) -> tuple[Path, float]:
    """The scenario's world under `cache_dir/worlds`, generated if absent (worlds of older
    generators are deleted then); seconds spent generating (0 when it was cached)."""
    generator = generator_fingerprint()  # read once: it hashes every module of data/
    out = Path(cache_dir) / "worlds" / world_key(scenario, generator)
    if (out / MANIFEST_FILE).is_file():
        return out, 0.0
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    prune_stale(out.parent, generator)
    generate_world(scenario, out)  # atomic: a crash leaves no half-written world
    return out, time.perf_counter() - started


def without_kinds(scenario: Scenario, kinds: list[str]) -> Scenario:
    """The scenario with every effective intervention of `kinds` removed (the exact
    counterfactual of those causes)."""
    kept = [i for i in scenario.interventions if not (i.kind in kinds and i.magnitude > 0)]
    return scenario.model_copy(
        update={"name": f"{scenario.name}-without-{'-'.join(kinds)}", "interventions": kept}
    )
