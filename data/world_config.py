"""Parameters of the default synthetic marketplace: regions, categories, demand curves, physics.

The baseline levels these produce are measured on the demo world before its incident and listed
in the README (on-time ~90.5%, cancellations ~1.9%, refund rate ~6.8%, support contacts ~4.6%,
mean stars ~4.67, item accuracy ~96.6%, batched share ~23%, median door-to-door ~36 minutes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")
CATEGORIES: tuple[str, ...] = ("grocery", "convenience", "retail")

REGION_SHARE = np.array([0.23, 0.17, 0.20, 0.16, 0.24])
# Average road speed (mph) per region; traffic slows it further at rush hours.
REGION_SPEED_MPH = np.array([17.0, 19.0, 16.0, 18.5, 14.5])
CATEGORY_SHARE = np.array([0.48, 0.36, 0.16])


def _normalized(weights: list[float]) -> np.ndarray:
    array = np.asarray(weights, dtype=float)
    return array / array.sum()


# Share of a category's daily orders placed in each local hour 0..23.
HOURLY_SHAPE = np.vstack(
    [
        _normalized(  # grocery: late morning and a large dinner peak
            [2, 1, 1, 1, 1, 2, 5, 12, 22, 32, 40, 48, 50, 44, 38, 40, 52, 68, 80, 78, 62, 38, 18, 7]
        ),
        _normalized(  # convenience: steadier, strong late night
            [
                22,
                15,
                9,
                5,
                4,
                6,
                12,
                22,
                30,
                32,
                34,
                42,
                48,
                40,
                34,
                36,
                44,
                54,
                60,
                62,
                58,
                52,
                44,
                32,
            ]
        ),
        _normalized(  # retail: daytime
            [1, 1, 1, 1, 1, 1, 3, 8, 18, 34, 48, 56, 58, 56, 52, 50, 50, 54, 56, 50, 38, 22, 10, 4]
        ),
    ]
)

# Demand multiplier per weekday (Monday = 0), mean 1.
WEEKDAY_FACTOR = _normalized([0.93, 0.90, 0.93, 0.97, 1.08, 1.11, 1.08]) * 7
# Volume-only holiday effects (dashers are scheduled to the forecast, so CX is unaffected).
HOLIDAY_FACTOR: dict[tuple[int, int], float] = {
    (12, 24): 0.90,
    (12, 25): 0.72,
    (12, 31): 1.10,
    (1, 1): 0.92,
}

# Per category: mean ordered lines - 1 (Poisson), SKU price median (USD) and its log-sd,
# merchant prep-time median (minutes), the catalog size, and the chance a batch partner exists.
EXTRA_LINES_MEAN = np.array([6.0, 1.6, 0.7])
PRICE_MEDIAN_USD = np.array([4.2, 3.6, 21.0])
PRICE_LOG_SD = np.array([0.55, 0.5, 0.7])
PREP_MEDIAN_MIN = np.array([23.0, 12.5, 16.0])
CATALOG_SIZE = np.array([3000, 800, 1500])
BATCH_PARTNER_PROB = np.array([0.46, 0.56, 0.50])

STORES_PER_1000_DAILY_ORDERS = 20
USERS_PER_DAILY_ORDER = 4

# Dispatch and driving.
DASHER_CAPACITY_PER_HOUR = 1.6  # orders one dasher can complete in an hour
TARGET_LOAD = 0.75  # dashers are scheduled so that forecast load is ~0.75 of capacity
LOAD_POOLING_SHARE = 0.25  # capacity borrowed from neighbouring zones, x average hourly volume
SUPPLY_NOISE_LOG_SD = 0.07
# The median wait for a dasher saturates here: past it, dispatch hands the order to a neighbouring
# zone's dashers. Without it a small marketplace's one dasher facing five orders in an hour
# (load ~2.6) waited a median 32,000 minutes; at load 1.5 the curve gives 41 minutes.
MAX_ASSIGN_MEDIAN_MIN = 45.0
TRAVEL_TO_STORE_MEDIAN_MIN = 8.0
DISTANCE_MEDIAN_MILES = 3.4
DISTANCE_LOG_SD = 0.5
HANDOFF_MIN = 3.0
RUSH_HOURS = (7, 8, 17, 18, 19)
RUSH_SPEED_FACTOR = 0.85

# Batching: an order is batched when a partner exists and the partner's detour is within the
# policy threshold (minutes). Batched orders also wait while the dasher picks up the partner.
BATCHING_THRESHOLD_MIN = 5.0
BATCH_DETOUR_MEAN_MIN = 8.0
BATCH_PICKUP_WAIT_MAX_MIN = 8.0
BATCH_PARTNER_HANDOFF_MIN = 3.0
BATCH_MATCH_ELASTICITY = 0.3  # partner availability ~ (threshold / 5 min) ** 0.3

# ETA model: quotes the expected duration plus a buffer, with multiplicative model error.
ETA_BUFFER_MIN = 4.5
ETA_MODEL_LOG_SD = 0.06
ETA_MODEL_VERSION = "eta-v41"
ETA_MODEL_NEXT_VERSION = "eta-v42"

# Inventory: per-line out-of-stock probability (SKU base x store factor); what happens then.
OOS_BETA = (1.6, 44.0)  # mean ~3.5%
STORE_OOS_LOG_SD = 0.3
SUBSTITUTE_SHARE = 0.65  # out-of-stock lines substituted; the rest are missing
SUBSTITUTION_REJECTED = 0.18  # substitutions the customer rejects (refunded)

# Cancellation: a base rate plus customers giving up on very late orders.
CANCEL_BASE = 0.010
CANCEL_LATE_MAX = 0.45
CANCEL_LATE_MIDPOINT_MIN = 22.0
CANCEL_LATE_SCALE_MIN = 5.0

# Support contacts: probability per order from what went wrong.
TICKET_BASE = 0.008
TICKET_IF_MISSING = 0.30
TICKET_IF_SUBSTITUTED = 0.08
TICKET_IF_LATE_5 = 0.07
TICKET_IF_LATE_15 = 0.28
TICKET_IF_CANCELED = 0.35

# Ratings: share of delivered orders rated and the penalties on a latent 1-5 score.
RATING_SHARE = 0.35
STARS_BASE = 4.95
STARS_PENALTY_LATE_5 = 0.55
STARS_PENALTY_LATE_15 = 1.5
STARS_PENALTY_MISSING = 1.1
STARS_PENALTY_SUBSTITUTED = 0.3
STARS_NOISE_SCALE = 0.32

# Inventory checks written to inventory_events per store and open hour.
INVENTORY_CHECKS_PER_STORE_HOUR = 1
STORE_OPEN_HOURS = range(6, 24)


@dataclass(frozen=True)
class BackgroundChange:
    """A routine logged change that has no effect on CX (the change log is never quiet)."""

    kind: str
    name: str
    description: str


BACKGROUND_CHANGES = (
    BackgroundChange("ops", "app_release", "Consumer app release with UI polish"),
    BackgroundChange("ops", "support_macro_update", "Support agents got new reply macros"),
    BackgroundChange("merchant", "menu_sync", "Nightly merchant catalog sync job updated"),
    BackgroundChange("policy", "promo_banner", "Homepage promo banner rotated"),
    BackgroundChange("model", "search_ranker", "Search ranking model refresh"),
)
BACKGROUND_CHANGE_EVERY_DAYS = 5


def demand_factor(day: dt.date) -> float:
    """Multiplier on daily volume from weekday and holidays."""
    return float(WEEKDAY_FACTOR[day.weekday()]) * HOLIDAY_FACTOR.get((day.month, day.day), 1.0)
