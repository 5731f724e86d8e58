"""Benchmark: the property-based ingest test at full size, every case counted.

    .venv/bin/python benchmarks/ingest_properties.py [--valid 200] [--invalid 100] [--seed 0]
                                                     [--slices]

Draws `--valid` valid and `--invalid` broken mappings of the real samples (the DoorDash 2015
sample and the India food-delivery sample, whole files read in place; `--slices` uses the
slices `make test` draws from) with the strategies of tests/data/test_ingest_properties.py,
and checks each one as the test does: a valid mapping ingests the expected rows at the
expected local times and answers "why did delivery times get worse?" grounded with no None or
NaN; a broken one fails with a MappingError or IngestError naming file, column and problem and
leaves nothing behind. Unlike the test it does not stop at the first failure: it prints each
case as it is checked, then the counts (passed and failed per sample and per way of writing
the times or kind of breakage), the time, and each failing case with its message. Every file
it writes is in a temporary directory.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "data"))

import test_ingest_properties as properties  # noqa: E402  (the test module holds the strategies)


def _run(
    strategy: st.SearchStrategy[properties.Case],
    check: Callable[[properties.Case, Path, Path], object],
    bases: dict[str, Path],
    count: int,
    random_seed: int,
    work: Path,
) -> list[tuple[properties.Case, str | None, float]]:
    """Check `count` drawn cases; (case, failure message or None, seconds) for each."""
    outcomes: list[tuple[properties.Case, str | None, float]] = []
    counter = itertools.count()

    @seed(random_seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def each(case: properties.Case) -> None:
        folder = work / f"case{next(counter)}"
        started = time.perf_counter()
        try:
            check(case, bases[case.sample], folder)
            failure = None
        except Exception as error:  # noqa: BLE001 - every failure is counted and shown
            failure = "".join(traceback.format_exception_only(error)).strip()
        outcomes.append((case, failure, time.perf_counter() - started))
        shutil.rmtree(folder, ignore_errors=True)
        verdict = "passed" if failure is None else f"FAILED: {failure.splitlines()[0][:300]}"
        print(f"[{len(outcomes)}] {outcomes[-1][2]:.1f} s {case.describe()}\n    {verdict}",
              flush=True)  # fmt: skip

    each()
    return outcomes


def _report(title: str, outcomes: list[tuple[properties.Case, str | None, float]]) -> int:
    """Print the counts and failures of one run; the number of failures."""
    failed = [(case, failure) for case, failure, _ in outcomes if failure]
    seconds = sum(elapsed for *_, elapsed in outcomes)
    each = seconds / max(len(outcomes), 1)
    print(f"\n{title}: {len(outcomes)} mappings, {len(outcomes) - len(failed)} passed, "
          f"{len(failed)} failed, {seconds:.0f} s ({each:.1f} s each)")  # fmt: skip
    by_kind = Counter(
        (case.sample, case.mutation or case.layout.clock, failure is None)
        for case, failure, _ in outcomes
    )
    for (sample, kind, passed), n in sorted(by_kind.items()):
        print(f"  {sample:9} {kind:34} {'passed' if passed else 'FAILED'} {n}")
    for case, failure in failed:
        print(f"  FAILED {case.describe()}\n    {failure[:2000]}")
    return len(failed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--valid", type=int, default=200)
    parser.add_argument("--invalid", type=int, default=100, help="spread over the breakages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slices", action="store_true", help="draw from make test's slices")
    args = parser.parse_args()
    os.environ.setdefault("CXAGENT_RESULT_CACHE", "off")  # every case computes its answer
    missing = [str(path) for path in properties.SAMPLES.values() if not path.is_file()]
    if missing:
        print(f"the real samples are missing: {', '.join(missing)}")
        return 2
    work = Path(tempfile.mkdtemp(prefix="cxagent-ingest-properties-"))
    started = time.perf_counter()
    try:
        bases = dict(properties.SAMPLES)
        if args.slices:
            bases = {
                sample: properties.slice_sample(path, work / f"{sample}.csv", rows, where)
                for sample, path in properties.SAMPLES.items()
                for where, rows in [properties.SLICES[sample]]
            }
        valid = _run(properties.valid_cases(), properties.check_valid, bases, args.valid,
                     args.seed, work)  # fmt: skip
        each = math.ceil(args.invalid / len(properties.BREAKAGES))
        invalid = [
            outcome
            for breakage in sorted(properties.BREAKAGES)
            for outcome in _run(properties.broken_cases(breakage), properties.check_invalid,
                                bases, each, args.seed, work)
        ]  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    source = "make test's slices" if args.slices else "the whole samples"
    print(f"seed {args.seed}, {source}, {time.perf_counter() - started:.0f} s wall in all")
    failures = _report("valid mappings", valid) + _report("broken mappings", invalid)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
