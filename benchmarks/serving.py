"""Benchmark: the served workbench under load, over real HTTP (issue 16's targets).

    .venv/bin/python benchmarks/serving.py [--world worlds/demo] [--conversations 200]
        [--burst 16] [--slots 2] [--wait 10]

Starts `python app.py` on a free loopback port with CXAGENT_MAX_CONCURRENT_ASKS=--slots and
CXAGENT_ASK_QUEUE_WAIT_S=--wait, warms it with one diagnosis, then:
1. asks --conversations questions, each in a NEW conversation (lookups, rankings, trends and
   the diagnosis, in turn), and reports the server's RSS growth (VmRSS of the server process
   after the warm-up vs after the last answer; target <= 150 MB for 200);
2. sends --burst questions at once, each new work (diagnoses of other metrics, what-ifs with
   new parameters: BURST), and
   reports the statuses (target: no 5xx, each 200 or 429 with Retry-After) and the longest a
   refused request waited (target: <= --wait plus a second) and the longest answer.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = (
    "what was the on-time rate in grocery yesterday?",
    "which regions were worst for cancellations last week?",
    "show on-time by day for the last two weeks",
    "why did CX drop on Jan 4?",
)
# Work not done before: diagnoses of other metrics and what-ifs with new parameters.
BURST = (
    "why did cancellations rise on Jan 4?",
    "why did dasher wait rise on Jan 4?",
    "why did refunds rise in the last week?",
    "why did on-time rate drop on Dec 20?",
    *(f"what if we add a {minutes} minute ETA buffer for grocery?" for minutes in range(1, 7)),
    *(f"what if we cap batches at {size} orders?" for size in range(2, 5)),
    *(f"what if we pay {usd} dollars peak pay?" for usd in range(1, 4)),
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=ROOT / "worlds" / "demo")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--burst", type=int, default=16)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--wait", type=float, default=10.0)
    arguments = parser.parse_args()
    port = _free_port()
    environment = {
        **os.environ,
        "CXAGENT_MAX_CONCURRENT_ASKS": str(arguments.slots),
        "CXAGENT_ASK_QUEUE_WAIT_S": str(arguments.wait),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    server = subprocess.Popen(
        [sys.executable, "app.py", "--world", str(arguments.world), "--port", str(port)],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=300) as client:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if client.get("/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"the server did not start: {server.stderr.read()[-2000:]}")
                time.sleep(0.5)
            for question in QUESTIONS:
                client.post("/api/ask", json={"question": question, "thread_id": "warm-up"})
            before = _rss_mb(server.pid)
            began = time.monotonic()
            statuses: Counter[int] = Counter()
            for number in range(arguments.conversations):
                question = QUESTIONS[number % len(QUESTIONS)]
                response = client.post("/api/ask", json={"question": question})
                statuses[response.status_code] += 1
            after = _rss_mb(server.pid)
            seconds = time.monotonic() - began
            print(
                f"{arguments.conversations} new conversations in {seconds:.1f} s "
                f"(statuses {dict(statuses)}): server RSS {before:.0f} -> {after:.0f} MB, "
                f"growth {after - before:+.0f} MB (target <= 150 MB)"
            )

            def ask(number: int) -> tuple[int, float, str | None]:
                started = time.monotonic()
                response = client.post("/api/ask", json={"question": BURST[number % len(BURST)]})
                return (
                    response.status_code,
                    time.monotonic() - started,
                    response.headers.get("retry-after"),
                )

            with ThreadPoolExecutor(max_workers=arguments.burst) as pool:
                burst = list(pool.map(ask, range(arguments.burst)))
        counts = Counter(status for status, _, _ in burst)
        refused = [seconds for status, seconds, _ in burst if status == 429]
        answered = [seconds for status, seconds, _ in burst if status == 200]
        server_errors = sum(n for status, n in counts.items() if status >= 500)
        retry_after = sorted({int(value) for status, _, value in burst if status == 429 and value})
        print(
            f"{arguments.burst} concurrent new questions ({arguments.slots} slots, "
            f"wait {arguments.wait:g} s): statuses {dict(counts)}, 5xx {server_errors}; "
            f"answered in median {statistics.median(answered):.1f} s, max {max(answered):.1f} s"
            if answered
            else "none answered"
        )
        if refused:
            print(
                f"refused: {len(refused)}, after at most {max(refused):.1f} s "
                f"(limit {arguments.wait:g} s), Retry-After {retry_after}"
            )
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
