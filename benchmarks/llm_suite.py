"""The seeded scenario suite through the LLM tool loop, with a scripted model on loopback.

    .venv/bin/python benchmarks/llm_suite.py [--jobs 2]

No real model can be reached from this machine, so the model is scripted
(evals/scripted_model.py): it calls `investigate` for each diagnosis and answers with the draft
the investigation returned, over real HTTP through the OpenAI client and the tool loop. The
figures say the loop's plumbing keeps the offline findings (top cause, grounding, plans); they
say nothing about how well a real model would phrase or choose.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from evals.command import run_eval
    from evals.scripted_model import scripted_model

    with scripted_model() as url:
        os.environ["CXAGENT_OPENAI_BASE_URL"] = url
        os.environ["OPENAI_API_KEY"] = "sk-scripted"
        code = run_eval(Console(), llm="openai", jobs=args.jobs,
                        json_path=ROOT / ".cache" / "evals" / "report-suite-llm.json")  # fmt: skip
    sys.exit(code)


if __name__ == "__main__":
    main()
