"""Registries filled from a package's modules: one module per entry, each declaring it under a
fixed attribute (a cause kind's `KIND` in data/interventions/kinds/, its `CAUSE` in tools/causes/),
so that adding an entry is adding a module and no list names them all."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def module_entries(
    path: Iterable[str],
    package: str,
    attribute: str,
    kind: type[T],
    name_of: Callable[[T], str],
    position_of: Callable[[T], int],
    skip: Iterable[str] = (),
) -> dict[str, T]:
    """Each module's `attribute` in the package `package` (its directories `path`; modules in
    `skip` or starting with '_' are not entries), checked (a `kind` instance, named after its
    module, a position of its own) and ordered by position: module listings are alphabetical,
    while an entry's place may matter (ties in ranking, draws of random scenarios)."""
    entries: list[T] = []
    skipped = set(skip)
    for module_info in pkgutil.iter_modules(path):
        if module_info.name in skipped or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{module_info.name}")
        entry = getattr(module, attribute, None)
        if not isinstance(entry, kind):
            raise TypeError(f"{module.__name__} must declare {attribute}, a {kind.__name__}")
        if name_of(entry) != module_info.name:
            raise ValueError(f"{module.__name__} declares kind {name_of(entry)!r}: name them alike")
        entries.append(entry)
    shared = sorted(p for p, n in Counter(map(position_of, entries)).items() if n > 1)
    if shared:
        raise ValueError(f"entries of {package} share the position(s) {shared}: give each its own")
    return {name_of(entry): entry for entry in sorted(entries, key=position_of)}
