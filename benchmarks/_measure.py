"""Wall time and peak RSS of work run in a fresh child process.

Peak memory is the kernel's `ru_maxrss` of a freshly started (spawned, not forked) child, so it
counts everything the work allocated in that process, DuckDB's native memory included, plus
whatever the child's own children peaked at. The interpreter and its imports are part of it.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

KIB_PER_MIB = 1024


@dataclass
class Measurement:
    wall_s: float  # wall time of the work itself (for a command: the whole process)
    peak_rss_mib: float  # peak resident set of the child process (or of its children, if more)
    result: Any = None  # the callable's return value (measure_call only)
    returncode: int = 0


def _peak_kib() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def _child(conn: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    started = time.perf_counter()
    try:
        result, error = fn(*args, **kwargs), None
    except BaseException:  # report any failure to the parent, which re-raises it
        result, error = None, traceback.format_exc()
    conn.send((result, error, time.perf_counter() - started, _peak_kib()))
    conn.close()


def measure_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Measurement:
    """Run `fn(*args, **kwargs)` in a spawned child; its result must be picklable."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, fn, args, kwargs))
    process.start()
    sender.close()
    try:
        result, error, wall, peak_kib = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"child died without a result (exit code {process.exitcode})") from None
    process.join()
    if error:
        raise RuntimeError(f"measured call failed in the child:\n{error}")
    return Measurement(wall, peak_kib / KIB_PER_MIB, result, process.exitcode or 0)


def measure_command(
    argv: Sequence[str], env: dict[str, str] | None = None, quiet: bool = False
) -> Measurement:
    """Run a command to completion (its output discarded when `quiet`); peak RSS is that process
    tree's (from wait4's rusage)."""
    started = time.perf_counter()
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(list(argv), env=env, stdout=output)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(
        time.perf_counter() - started, usage.ru_maxrss / KIB_PER_MIB, None, process.returncode
    )


def current_rss_mib() -> float:
    """This process's resident set now (Linux /proc), for phase sampling."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
