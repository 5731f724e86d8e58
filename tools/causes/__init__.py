"""The cause-kind registry: one module per kind in this package, each declaring `CAUSE`.

Adding a kind is adding a module `<kind>.py` here (see CONTRIBUTING.md); nothing else lists the
kinds. `CAUSES` maps each kind to its spec, ordered by the specs' `position`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Iterable

from data.scenario import CAUSE_KINDS
from tools.causes.base import CauseSpec

_NOT_KINDS = frozenset({"base"})  # modules of this package that declare no kind


def discover(path: Iterable[str], package: str) -> dict[str, CauseSpec]:
    """Every kind module's `CAUSE` in the package `package` (its directories `path`), checked
    (named after its module, a unique position) and ordered by position."""
    specs: list[CauseSpec] = []
    for module_info in pkgutil.iter_modules(path):
        if module_info.name in _NOT_KINDS or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{module_info.name}")
        spec = getattr(module, "CAUSE", None)
        if not isinstance(spec, CauseSpec):
            raise TypeError(f"{module.__name__} must declare CAUSE, a CauseSpec")
        if spec.kind != module_info.name:
            raise ValueError(f"{module.__name__} declares kind {spec.kind!r}: name them alike")
        specs.append(spec)
    shared = [p for p, count in Counter(s.position for s in specs).items() if count > 1]
    if shared:
        raise ValueError(f"cause kinds share the position(s) {shared}: give each its own")
    return {spec.kind: spec for spec in sorted(specs, key=lambda s: s.position)}


CAUSES: dict[str, CauseSpec] = discover(__path__, __name__)

if set(CAUSES) != set(CAUSE_KINDS):
    raise RuntimeError(
        "every scenario cause kind needs a module in tools/causes and each module a scenario "
        f"kind: only in data/scenario.py {sorted(set(CAUSE_KINDS) - set(CAUSES))}, "
        f"only here {sorted(set(CAUSES) - set(CAUSE_KINDS))}"
    )
