"""Scenario files: a synthetic world's size and dates plus the interventions (root causes) in it.

A scenario is YAML (the contract in DESIGN.md). Validation errors name the offending field.
The intervention kinds and what magnitude 1.0 means for each are declared in
`data/interventions/kinds/` (one module per kind).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data.interventions.registry import KIND_NAMES, kind_spec
from data.world_config import CATEGORIES, REGIONS

SCENARIO_DIR = Path(__file__).parent / "scenarios"

CAUSE_KINDS: tuple[str, ...] = KIND_NAMES  # every kind module in data/interventions/kinds, in order
if TYPE_CHECKING:
    CauseKind = str
else:  # the registry's kinds as a Literal, so that pydantic validates and names them
    CauseKind = Literal[KIND_NAMES]


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


class Scope(BaseModel):
    """Where an intervention applies: every given filter must match; empty means everywhere."""

    model_config = ConfigDict(extra="forbid")

    region: list[str] | None = None
    category: list[str] | None = None
    store_ids: list[str] | None = None
    hours: list[int] | None = None

    @field_validator("region", "category", "store_ids", "hours", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return [value] if isinstance(value, str | int) else value

    @field_validator("region")
    @classmethod
    def _known_regions(cls, value: list[str] | None) -> list[str] | None:
        for region in value or []:
            if region not in REGIONS:
                raise ValueError(f"unknown region {region!r}; known: {', '.join(REGIONS)}")
        return value

    @field_validator("category")
    @classmethod
    def _known_categories(cls, value: list[str] | None) -> list[str] | None:
        for category in value or []:
            if category not in CATEGORIES:
                raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[int] | None) -> list[int] | None:
        for hour in value or []:
            if not 0 <= hour <= 23:
                raise ValueError(f"hour {hour} is not in 0..23")
        return value

    def as_filters(self) -> dict[str, list]:
        """The non-empty filters, e.g. {"category": ["grocery"], "hours": [18, 19, 20]}."""
        return {key: value for key, value in self.model_dump().items() if value}


class Intervention(BaseModel):
    """One root cause injected into the world from `onset` until `end` (exclusive) or the end."""

    model_config = ConfigDict(extra="forbid")

    kind: CauseKind
    onset: dt.datetime
    end: dt.datetime | None = None
    scope: Scope = Field(default_factory=Scope)
    magnitude: float = Field(1.0, ge=0.0, le=3.0)
    logged: bool = False
    name: str | None = None  # name in the `changes` table; defaults per kind
    description: str | None = None

    @model_validator(mode="after")
    def _end_after_onset(self) -> Intervention:
        if self.end is not None and self.end <= self.onset:
            raise ValueError(f"end {self.end} is not after onset {self.onset}")
        scope_error = kind_spec(self.kind).scope_error(self.scope.as_filters())
        if scope_error:
            raise ValueError(scope_error)
        return self


class Scenario(BaseModel):
    """A synthetic world: dates, size, seed and interventions."""

    model_config = ConfigDict(extra="forbid")

    name: str
    seed: int = 0
    start: dt.date
    days: int = Field(ge=1, le=400)
    orders_per_day: int = Field(ge=10, le=2_000_000)
    background_changes: bool = True  # routine logged changes that do nothing (realistic noise)
    interventions: list[Intervention] = Field(default_factory=list)

    @property
    def end(self) -> dt.date:
        """Last day of data (inclusive)."""
        return self.start + dt.timedelta(days=self.days - 1)

    @model_validator(mode="after")
    def _interventions_inside_data(self) -> Scenario:
        first = dt.datetime.combine(self.start, dt.time())
        after_last = first + dt.timedelta(days=self.days)
        for index, intervention in enumerate(self.interventions):
            if not first <= intervention.onset < after_last:
                raise ValueError(
                    f"interventions.{index}.onset {intervention.onset} is outside the data "
                    f"({self.start} .. {self.end})"
                )
        return self

    def without(self, index: int) -> Scenario:
        """The same world with intervention `index` removed: its exact counterfactual."""
        kept = [i for position, i in enumerate(self.interventions) if position != index]
        return self.model_copy(update={"interventions": kept})


class _TextDatesLoader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so an impossible date is a field error, not a crash."""


_TextDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  {field}: {item['msg']}")
    return "\n".join(lines)


def parse_scenario(raw: object, source: str = "<scenario>") -> Scenario:
    """Validate a scenario mapping; raise ScenarioError naming the source and each bad field."""
    if not isinstance(raw, dict):
        raise ScenarioError(
            f"{source}: expected a mapping at the top level, got {type(raw).__name__}"
        )
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(f"{source}: invalid scenario\n{_format_errors(error)}") from None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a shipped scenario by name (e.g. "demo") or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.is_file():
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml")))
        raise ScenarioError(f"no scenario file {str(name_or_path)!r}; shipped scenarios: {shipped}")
    try:
        raw = yaml.load(path.read_text(), Loader=_TextDatesLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{path}: not valid YAML: {error}") from None
    return parse_scenario(raw, str(path))


def shipped_scenarios() -> list[str]:
    """Names of the scenarios shipped in data/scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
