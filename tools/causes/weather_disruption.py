"""Weather disruption: a storm in a region slows drives and brings more orders.

Everything the analysis knows of this kind is here: its hypothesis, the driver only it reads
(storm_share, from the `weather` table) and the action only it needs (an ETA buffer while the
storm lasts, with its what-if).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import duckdb
import numpy as np

from analytics.cohorts import FilterValue
from analytics.drivers import DriverSpec, Window, group_stats, missing_requirements
from analytics.whatif_actions import (
    ASSUMPTIONS,
    Draw,
    Move,
    WhatIfAction,
    quote_efficiency,
    quote_shift_to_baseline,
)
from tools.action_spec import ActionSpec, ParameterSpec
from tools.causes.base import CauseSpec, DriverCheck, Hypothesis

# Orders with the weather of their region-hour (w.* NULL where the table has no row).
_WEATHER_AT_ORDER = (
    "SELECT o.order_time AS t, o.region, o.category, o.hour, o.store_id, o.basket_size, "
    "o.daypart, {value} AS x FROM order_facts o "
    "LEFT JOIN weather w ON w.region = o.region AND w.hour_start = o.hour_start"
)

STORM_SHARE = DriverSpec(
    "storm_share",
    "Orders placed during a storm in their region",
    "share",
    "share",
    _WEATHER_AT_ORDER,
    "CAST(coalesce(w.condition = 'storm', FALSE) AS INTEGER)",
    ("weather.condition", "weather.region", "weather.hour_start"),
    # "did the weather hurt us?" (not "what's the weather in Paris?")
    synonyms=r"\b(?:thunder)?storm(?:s|y)?\b|\b(?:bad|severe)\s+weather\b"
    r"|\bweather\s+(?:hurt|affect|impact|slow|disrupt|hit|hamper)\w*",
)


def _storm_in_scope(
    con: duckdb.DuckDBPyConnection,
    filters: Mapping[str, FilterValue],
    window: tuple[dt.datetime, dt.datetime],
) -> str | None:
    """None when some of the scope's orders in the window were placed in a storm; else why the
    storm buffer cannot apply (it pads quotes only while a storm lasts)."""
    if missing := missing_requirements(con, STORM_SHARE):
        return f"the data has no weather to tell a storm by (missing {', '.join(missing)})"
    groups = group_stats(con, [STORM_SHARE.name], filters, {"incident": Window(*window)})
    inside = groups[STORM_SHARE.name].get((True, "incident"))
    if inside is None or not inside.n or not inside.mean > 0:
        return (
            "no order in this scope and window was placed during a storm (weather table), and "
            "a storm buffer pads quotes only while a storm lasts; eta_buffer pads every quote"
        )
    return None


def _storm_eta_buffer(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """`minutes` more on every quote of the storm's scope (default: what brings the margin
    between quotes and delivery times back to the baseline's)."""
    default = quote_shift_to_baseline(draw.simulator.baseline, draw.w)
    minutes = parameters.get("minutes", default)
    return Move(
        longer_quote=np.full(len(draw.w), minutes),
        efficiency=quote_efficiency(minutes),
        parameters={"minutes": minutes},
    )


STORM_ETA_BUFFER = ActionSpec(
    "storm_eta_buffer",
    "Pad quoted ETAs in the storm's regions and hours by its extra delivery minutes while it lasts",
    undoes=(),
    mitigates=("weather_disruption",),
    whatif=WhatIfAction(
        "storm_eta_buffer",
        _storm_eta_buffer,
        assumptions=lambda parameters: (
            "quotes absorb the storm's extra delivery minutes while it lasts (by default the "
            "baseline's margin between quote and delivery time); customers judge lateness "
            "against the quote",
            f"each quoted minute costs {ASSUMPTIONS['conversion_loss_per_quote_minute']:.1%} "
            "of orders (conversion assumption)",
        ),
    ),
    parameter_specs=(
        ParameterSpec(
            "minutes",
            label="storm ETA buffer",
            unit="minutes",
            default=None,  # without it: what restores the baseline's quote margin
            minimum=0.5,
            maximum=30.0,
            description="Minutes added to every quoted ETA in the storm (default: the minutes "
            "that bring quotes back to the baseline's margin over delivery times).",
        ),
    ),
    parameter_title="Pad quoted ETAs in the storm's regions and hours by {minutes} while it lasts",
    tradeoff="longer quotes lower conversion while the storm lasts",
    words=("storm eta buffer", "storm buffer", "pad quoted etas"),
    precondition=_storm_in_scope,
    question_pattern=(
        r"\bstorm\w*{gap}\b(?:buffer\w*|pad\w*)|\b(?:buffer\w*|pad\w*)\b{gap}\b(?:storm|weather)\w*"
    ),
)

CAUSE = CauseSpec(
    hypothesis=Hypothesis(
        kind="weather_disruption",
        title="Weather disruption: a storm in the region",
        mechanism="A storm slows every drive and keeps people home ordering, with no extra "
        "dashers: orders arrive later than quoted and more are canceled.",
        needs=("weather.condition",),
        primary=DriverCheck("storm_share", +1, "more of the slice's orders placed in a storm"),
        supporting=(
            DriverCheck("drive_min", +1, "drives from pickup to door take longer"),
            DriverCheck("orders_per_hour", +1, "more orders per hour in the slice"),
        ),
        features=("dasher_wait_min", "busy_share", "orders_per_dasher"),
        change_names=("storm_alert", "weather_alert"),
        words=("weather", "storm"),
        asked=r"\bweather\b|\b(?:thunder)?storm\w*|\brain\w*|\bsnow\w*",
    ),
    plain="a storm that slowed deliveries and brought more orders than couriers could absorb",
    short="weather",
    position=55,
    drivers=(STORM_SHARE,),
    actions=(STORM_ETA_BUFFER,),
)
