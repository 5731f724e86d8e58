"""The intervention kinds, discovered from data/interventions/kinds: one module per kind."""

from __future__ import annotations

import importlib
import pkgutil

from data.interventions import kinds
from data.interventions.base import ChangeSpec, InterventionKind


def _discover() -> dict[str, InterventionKind]:
    """Every kind module's `KIND`, in the order of their positions."""
    found = []
    for module_info in pkgutil.iter_modules(kinds.__path__):
        module = importlib.import_module(f"{kinds.__name__}.{module_info.name}")
        spec = getattr(module, "KIND", None)
        if not isinstance(spec, InterventionKind):
            raise TypeError(f"{module.__name__} declares no KIND = InterventionKind(...)")
        if spec.name != module_info.name:
            raise ValueError(f"{module.__name__} declares kind {spec.name!r}; name them alike")
        found.append(spec)
    found.sort(key=lambda spec: spec.position)
    positions = [spec.position for spec in found]
    if len(set(positions)) != len(positions):
        raise ValueError(f"intervention kinds share a position: {positions}")
    return {spec.name: spec for spec in found}


KINDS: dict[str, InterventionKind] = _discover()
KIND_NAMES: tuple[str, ...] = tuple(KINDS)
CHANGE_SPECS: dict[str, ChangeSpec] = {name: spec.change for name, spec in KINDS.items()}


def kind_spec(name: str) -> InterventionKind:
    """The spec of intervention kind `name`; KeyError naming the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown intervention kind {name!r}; known: {', '.join(KINDS)}") from None
