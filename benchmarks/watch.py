"""Watching: replays, tick cost and the cost of appending a day.

    .venv/bin/python benchmarks/watch.py [--world worlds/demo] [--null-world DIR] [--runs 3]

1. The demo world replayed hour by hour from two weeks in to its end (no routes: the alerts
   are what would be sent): when the first alert of the intervention's incident came, against
   the hour of its first affected order (truth.json), how many alerts it got, and any other.
2. A null world (data/scenarios/null.yaml, 31 days x 20,000 orders, generated into
   --null-world if absent) replayed over all its days: alerts (target 0).
3. A tick on the demo world with no new incident: in a fresh process (the scan included) and
   in a warm watcher (median of --runs).
4. `ingest --append` of the demo's last day (~20,000 orders with their deliveries, items,
   tickets and ratings) onto a copy of the world without it, through an identity mapping.

Targets (issue 21): first alert <= 2 h after the onset, 1 alert for the incident plus at most
one update, 0 alerts in the null world; a tick <= 2 s; an append of one day <= 5 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("CXAGENT_RESULT_CACHE", "off")  # every figure computes, none is read back

from _measure import measure_call  # noqa: E402

from cxagent.web.defaults import base_url  # noqa: E402

LINK_BASE = base_url()  # where the alerts' briefs would be served

# The column holding each table's time, to cut a world at a day (None: keyed by order_id).
TIME_COLUMNS = {
    "orders": "order_time",
    "inventory_events": "event_time",
    "changes": "change_time",
    "dasher_supply": "hour_start",
}
BY_ORDER = ("deliveries", "items", "support_events", "ratings")


def replay(world: str, start: str, end: str | None = None) -> list[dict[str, object]]:
    """Replay `world` from `start` in a fresh state; the alerts with the hour they came."""
    import tools.catalog  # noqa: F401
    from watching.watcher import Watcher

    state = Path(tempfile.mkdtemp(prefix="cxagent-watch-"))
    watcher = Watcher(world, None, link_base=LINK_BASE, state_dir=state)
    began = time.perf_counter()
    reports = watcher.replay(
        dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end) if end else None
    )
    seconds = time.perf_counter() - began
    watcher.close()
    shutil.rmtree(state, ignore_errors=True)
    alerts = [
        {"hour": r.as_of.isoformat(), "event": a.event, "incident": a.incident_id,
         "severity": a.severity_label, "cohort": a.cohort, "top_slice": a.top_slice,
         "cause": a.top_cause, "action": a.action}
        for r in reports for a in r.alerts
    ]  # fmt: skip
    ticks = sorted(r.seconds for r in reports)
    return [{"ticks": len(reports), "seconds": seconds, "median_tick": ticks[len(ticks) // 2]},
            *alerts]  # fmt: skip


def tick_cold(world: str, state: str) -> float:
    """One tick in this fresh process (scan included) on a state that has seen everything."""
    import tools.catalog  # noqa: F401
    from watching.watcher import Watcher

    watcher = Watcher(world, None, link_base=LINK_BASE, state_dir=Path(state))
    began = time.perf_counter()
    report = watcher.tick()
    seconds = time.perf_counter() - began
    watcher.close()
    assert not report.opened, "the state should have seen every incident already"
    return seconds


def tick_warm(world: str, state: str, runs: int) -> list[float]:
    """Ticks of one watcher after a first one (the scan cached)."""
    import tools.catalog  # noqa: F401
    from watching.watcher import Watcher

    watcher = Watcher(world, None, link_base=LINK_BASE, state_dir=Path(state))
    watcher.tick()
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        watcher.tick()
        seconds.append(time.perf_counter() - began)
    watcher.close()
    return seconds


def onset_hour(world: Path) -> tuple[dt.datetime, dict[str, object]]:
    """The hour of the intervention's first affected order, and the intervention."""
    truth = json.loads((world / "truth.json").read_text())
    intervention = truth["interventions"][0]
    con = duckdb.connect()
    first = con.execute(
        "SELECT min(order_time) FROM read_parquet(?) WHERE order_id IN (SELECT unnest(?))",
        [str(world / "orders.parquet"), intervention["order_ids"]],
    ).fetchone()[0]  # type: ignore[index]
    return first.replace(minute=0, second=0, microsecond=0), intervention


def split_last_day(world: Path, out: Path) -> tuple[Path, Path, int]:
    """`out`/world: the world without its last day; `out`/day: that day's rows as Parquet, with
    an identity mapping. Returns the base world, the mapping and the day's orders."""
    from data.schema import TABLES
    from data.warehouse import build_warehouse

    base, day = out / "world", out / "day"
    base.mkdir(parents=True)
    day.mkdir()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    last = con.execute(
        "SELECT max(order_time)::DATE FROM read_parquet(?)", [str(world / "orders.parquet")]
    ).fetchone()[0]  # type: ignore[index]
    cut = f"TIMESTAMP '{last}'"
    orders = str(world / "orders.parquet")
    mapping: dict[str, object] = {"source_timezone": "UTC", "local_timezone": "UTC", "tables": {}}
    for name in TABLES:
        source = world / f"{name}.parquet"
        if not source.exists() or name == "order_facts":
            continue
        if name in TIME_COLUMNS:
            late = f"{TIME_COLUMNS[name]} >= {cut}"
        elif name in BY_ORDER:
            late = (
                f"order_id IN (SELECT order_id FROM read_parquet('{orders}') "
                f"WHERE order_time >= {cut})"
            )
        else:
            late = "true"  # stores: every row again (their keys are already there)
        for target, keep in ((base, f"NOT ({late})" if late != "true" else "true"), (day, late)):
            con.execute(
                f"COPY (SELECT * FROM read_parquet(?) WHERE {keep}) TO '{target / source.name}' "
                "(FORMAT parquet)",
                [str(source)],
            )
        columns = [c.name for c in TABLES[name].columns]
        present = set(
            con.execute("SELECT name FROM parquet_schema(?)", [str(source)]).fetchnumpy()["name"]
        )
        mapping["tables"][name] = {  # type: ignore[index]
            "source": str(day / source.name),
            "columns": {c: c for c in columns if c in present},
        }
    shutil.copy2(world / "world.json", base / "world.json")
    build_warehouse(base)
    path = out / "day.yaml"
    path.write_text(yaml.safe_dump(mapping))
    count = con.execute(
        f"SELECT count(*) FROM read_parquet('{day / 'orders.parquet'}')"
    ).fetchone()[0]  # type: ignore[index]
    return base, path, int(count)


def timed_append(mapping: str, world: str) -> dict[str, object]:
    from data.append import append

    result = append(mapping, world)
    return {"seconds": result.seconds, "added": result.added}


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, default=ROOT / "worlds" / "demo")
    parser.add_argument("--null-world", type=Path, default=ROOT / ".cache" / "bench" / "null")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"world {args.world}; load average at start: {load}")

    onset, intervention = onset_hour(args.world)
    start = json.loads((args.world / "world.json").read_text())["scenario"]["start"]
    replay_from = (dt.date.fromisoformat(start) + dt.timedelta(days=14)).isoformat()
    measured = measure_call(replay, str(args.world), replay_from)
    stats, *alerts = measured.result
    scope = intervention["scope"]
    ours = [a for a in alerts if any(str(v) in str(a["top_slice"]) + str(a["cohort"])
                                     for v in (scope.get("category") or []))]  # fmt: skip
    first = min((dt.datetime.fromisoformat(a["hour"]) for a in ours), default=None)
    print(
        f"1. demo replay from {replay_from}: {stats['ticks']} hourly ticks in "
        f"{stats['seconds']:.0f} s (median tick {stats['median_tick']:.2f} s, peak RSS "
        f"{measured.peak_rss_mib:,.0f} MiB)"
    )
    delay = (first - onset).total_seconds() / 3600 if first else float("nan")
    print(
        f"   intervention {intervention['kind']} (first affected hour {onset:%Y-%m-%d %H:%M}): "
        f"first alert {first:%Y-%m-%d %H:%M} = {delay:.0f} h after (target <= 2 h: "
        f"{'met' if delay <= 2 else 'NOT met'}); {len(ours)} alert(s) for it "
        f"({', '.join(a['event'] for a in ours)})"
        if first
        else "   no alert for the intervention (NOT met)"
    )
    for alert in alerts:
        where = alert["top_slice"] or alert["cohort"]
        print(
            f"     {alert['hour']} {alert['event']:<9} {alert['incident']} "
            f"{alert['severity']:<6} {where}: {alert['cause']} -> {alert['action']}"
        )

    null = args.null_world
    if not (null / "warehouse.duckdb").exists():
        from data.generator import generate_world
        from data.scenario import load_scenario

        print(f"   generating the null world into {null} ...")
        shutil.rmtree(null, ignore_errors=True)
        generate_world(load_scenario("null"), null)
    null_start = json.loads((null / "world.json").read_text())["scenario"]["start"]
    stats, *null_alerts = measure_call(replay, str(null), null_start).result
    print(
        f"2. null world replay over all its days: {stats['ticks']} ticks in "
        f"{stats['seconds']:.0f} s, {len(null_alerts)} alert(s) (target 0: "
        f"{'met' if not null_alerts else 'NOT met'})"
    )
    for alert in null_alerts:
        print(f"     {alert['hour']} {alert['event']} {alert['incident']} {alert['cohort']}")

    with tempfile.TemporaryDirectory(prefix="cxagent-watch-") as scratch:
        state = Path(scratch) / "state"
        import tools.catalog  # noqa: F401
        from watching.watcher import Watcher

        seen = Watcher(args.world, None, link_base=LINK_BASE, state_dir=state)
        seen.tick()  # every incident seen once
        seen.close()
        cold = [
            measure_call(tick_cold, str(args.world), str(state)).result for _ in range(args.runs)
        ]
        warm = measure_call(tick_warm, str(args.world), str(state), args.runs).result
        print(
            f"3. a tick with no new incident: fresh process {statistics.median(cold):.2f} s "
            f"(runs {', '.join(f'{s:.2f}' for s in cold)}), warm watcher "
            f"{statistics.median(warm):.3f} s (target <= 2 s: cold "
            f"{_met(statistics.median(cold) <= 2)}, warm {_met(statistics.median(warm) <= 2)})"
        )

        appends = []
        for run in range(args.runs):
            base, mapping, orders = split_last_day(args.world, Path(scratch) / f"append-{run}")
            appends.append(measure_call(timed_append, str(mapping), str(base)).result)
        seconds = statistics.median(float(a["seconds"]) for a in appends)
        print(
            f"4. append of the last day ({orders:,} orders; added {appends[0]['added']}): "
            f"{seconds:.2f} s median of {args.runs} (target <= 5 s: "
            f"{'met' if seconds <= 5 else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
