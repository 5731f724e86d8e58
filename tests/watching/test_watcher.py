"""The watcher on real (small) worlds: a replay of the demo alerts once, at the right hour, with
the right content, to a real webhook receiver on loopback; a null world sends nothing; a
receiver down for three attempts gets the alert exactly once; the CLI replays."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

import tools.catalog  # noqa: F401 (registers the tools)
from cxagent.cli import app
from cxagent.web.defaults import base_url
from watching.routes import load_routes
from watching.state import stored_records
from watching.watcher import Watcher

if TYPE_CHECKING:
    from conftest import Receiver

ONSET = dt.datetime(2026, 1, 4, 18)  # the demo's first batched grocery dinner hour
LINK_BASE = base_url()


def _copy(world: Path, to: Path) -> Path:
    """A private copy: the watcher writes its state and feedback store into the world."""
    shutil.copytree(world, to, ignore=shutil.ignore_patterns("watch", ".cache"))
    return to


@pytest.fixture(scope="module")
def demo(small_scenario, make_world, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(make_world(small_scenario("demo")), tmp_path_factory.mktemp("watch") / "demo")


def test_demo_replay_alerts_once_at_the_onset_with_its_cause_and_action(
    demo: Path, tmp_path: Path, receiver: Receiver, webhook_file: Path
) -> None:
    routes = load_routes(webhook_file)
    receiver.fail_next = 3  # the receiver is down for the first three attempts
    watcher = Watcher(demo, routes, link_base=LINK_BASE, state_dir=tmp_path / "state")
    reports = watcher.replay(ONSET - dt.timedelta(hours=12), ONSET + dt.timedelta(hours=30))
    watcher.close()

    events = [(r.as_of, a.event, a.severity_label) for r in reports for a in r.alerts]
    assert events == [
        (ONSET + dt.timedelta(hours=2), "opened", "medium"),
        (ONSET + dt.timedelta(hours=4), "escalated", "high"),
    ]
    alert = next(a for r in reports for a in r.alerts if a.event == "opened")
    assert alert.top_cause == "batching_threshold" and alert.action == "revert_batching"
    assert "grocery" in (alert.top_slice or "") and alert.cause_confidence
    assert alert.cx_gain and alert.cx_gain > 0

    delivered = [r.body for r in receiver.accepted()]
    failed = [r for r in receiver.requests if r.headers["x-answered"] != "200"]
    assert len(failed) == 3
    opened_bodies = [body for body in delivered if body["event"] == "opened"]
    assert len(opened_bodies) == 1  # exactly once, after the receiver recovered
    body = opened_bodies[0]
    assert body["incident_id"] == alert.incident_id
    assert body["top_cause"] == "batching_threshold" and body["action"] == "revert_batching"
    assert body["link"].endswith(f"/api/summary/{alert.incident_id}")


def test_a_second_replay_of_the_same_hours_in_the_same_state_sends_nothing_new(
    demo: Path, tmp_path: Path, receiver: Receiver, webhook_file: Path
) -> None:
    routes = load_routes(webhook_file)
    hours = (ONSET - dt.timedelta(hours=2), ONSET + dt.timedelta(hours=6))
    first = Watcher(demo, routes, link_base=LINK_BASE, state_dir=tmp_path / "state")
    first.replay(*hours)
    first.close()
    sent = len(receiver.accepted())
    again = Watcher(
        demo, routes, link_base=LINK_BASE, state_dir=tmp_path / "state"
    )  # a restarted watcher
    reports = again.replay(*hours)
    again.close()

    assert sent == 2  # opened, then escalated
    assert len(receiver.accepted()) == sent
    assert not any(r.alerts for r in reports)


def test_null_world_replay_sends_nothing(
    small_scenario, make_world, tmp_path: Path, receiver: Receiver, webhook_file: Path
) -> None:
    world = _copy(make_world(small_scenario("null", days=17)), tmp_path / "null")
    routes = load_routes(webhook_file)
    watcher = Watcher(world, routes, link_base=LINK_BASE, state_dir=tmp_path / "state")
    reports = watcher.replay(dt.datetime(2025, 12, 19))  # two weeks in, to the end of the data
    watcher.close()

    assert len(reports) >= 24 * 3
    assert not any(r.alerts for r in reports) and not any(r.errors for r in reports)
    assert receiver.requests == []


def test_the_cli_replays_and_reports_each_alert(
    demo: Path, tmp_path: Path, receiver: Receiver, webhook_file: Path
) -> None:
    routes = webhook_file
    done = CliRunner().invoke(
        app,
        ["watch", "--world", str(demo), "--routes", str(routes),
         "--replay-from", f"{ONSET - dt.timedelta(hours=3):%Y-%m-%dT%H:%M}",
         "--replay-to", f"{ONSET + dt.timedelta(hours=6):%Y-%m-%dT%H:%M}"],
    )  # fmt: skip
    bad = CliRunner().invoke(app, ["watch", "--world", str(demo), "--every", "soon", "--once"])

    assert done.exit_code == 0, done.output
    assert "opened: CX incident" in done.output and "replayed 10 hour(s)" in done.output
    bodies = [r.body for r in receiver.accepted()]
    assert [b["event"] for b in bodies] == ["opened", "escalated"]
    assert bodies[0]["top_cause"] == "batching_threshold"
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_the_served_workbench_runs_the_watcher_in_the_background(
    demo: Path, tmp_path: Path, receiver: Receiver, webhook_file: Path
) -> None:
    import threading

    from cxagent.web.server import create_app, start_watcher

    routes = load_routes(webhook_file)
    world = _copy(demo, tmp_path / "served")
    app = create_app(world)
    stop = threading.Event()
    thread = start_watcher(app, routes, dt.timedelta(hours=1), stop, link_base="http://h:1")
    for _ in range(600):  # the first tick runs at once; wait for it (at most 60 s)
        if getattr(app.state, "watch_report", None) is not None:
            break
        stop.wait(0.1)
    stop.set()
    thread.join(timeout=30)
    app.state.workbench.close()

    report = app.state.watch_report
    assert not report.errors and report.open_incidents
    bodies = [r.body for r in receiver.accepted()]
    assert [b["event"] for b in bodies] == ["opened"] * len(report.opened) and bodies
    assert all(b["link"].startswith("http://h:1/api/summary/") for b in bodies)
    stored = stored_records(world)  # what the workbench's similar incidents read
    assert {r.top_cause for r in stored.values() if r.incident_id in report.opened} == {
        "batching_threshold"
    }
