"""A cause kind is its own modules: what only it needs is named nowhere else in the code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.actions import ACTIONS
from tools.causes import CAUSES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("analytics", "tools", "agent", "cxagent", "data", "evals", "watching")
OWN = [
    (cause.kind, name)
    for cause in CAUSES.values()
    for name in (*(d.name for d in cause.drivers), *(a.name for a in cause.actions))
]


def _code_naming(name: str) -> list[str]:
    return sorted(
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if f'"{name}"' in path.read_text(encoding="utf-8")
        or f"'{name}'" in path.read_text(encoding="utf-8")
    )


@pytest.mark.parametrize(("kind", "name"), OWN, ids=[f"{k}.{n}" for k, n in OWN])
def test_a_kind_s_own_drivers_and_actions_are_named_only_in_its_module(
    kind: str, name: str
) -> None:
    assert _code_naming(name) == [f"tools/causes/{kind}.py"]


def test_a_kind_s_own_actions_join_the_library_after_the_general_ones() -> None:
    names = list(ACTIONS)
    own = [a.name for cause in CAUSES.values() for a in cause.actions]
    assert own and names[-len(own) :] == own
    assert all(ACTIONS[name].addresses(kind) for kind, name in OWN if name in ACTIONS)
