"""The intervention kinds, discovered from data/interventions/kinds: one module per kind."""

from __future__ import annotations

from data.discovery import module_entries
from data.interventions import kinds
from data.interventions.base import ChangeSpec, InterventionKind


def _discover() -> dict[str, InterventionKind]:
    """Every kind module's `KIND`, in the order of their positions."""
    return module_entries(
        kinds.__path__, kinds.__name__, "KIND", InterventionKind, lambda k: k.name,
        lambda k: k.position,
    )  # fmt: skip


KINDS: dict[str, InterventionKind] = _discover()
KIND_NAMES: tuple[str, ...] = tuple(KINDS)
CHANGE_SPECS: dict[str, ChangeSpec] = {name: spec.change for name, spec in KINDS.items()}


def kind_spec(name: str) -> InterventionKind:
    """The spec of intervention kind `name`; KeyError naming the known kinds otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"unknown intervention kind {name!r}; known: {', '.join(KINDS)}") from None
