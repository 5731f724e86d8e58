"""Demand surge: more orders than the fleet was scheduled for (an external confounder)."""

from tools.causes.base import CauseSpec, DriverCheck, Hypothesis

CAUSE = CauseSpec(
    hypothesis=Hypothesis(
        kind="demand_surge",
        title="Demand surge: more orders than the fleet was scheduled for",
        mechanism="Orders per hour rose above the seasonal baseline (weather, promotions) "
        "with no extra dashers, so dispatch queues grow.",
        needs=("orders.order_time",),
        primary=DriverCheck("orders_per_hour", +1, "more orders per hour in the slice"),
        supporting=(
            DriverCheck("dashers_per_order", -1, "fewer dashers per open order"),
            DriverCheck("dasher_wait_min", +1, "ready orders wait longer for a dasher"),
        ),
        features=("dasher_wait_min", "busy_share", "orders_per_dasher"),
        change_names=("marketing_promo", "promo", "campaign"),
        words=("surge", "demand"),
        asked=r"\bsurg\w*|\bdemand\b|\b(?:too\s+many|more)\s+orders\b|\bvolume\b|\bpromo\w*",
    ),
    plain="an unusual surge of orders (e.g. weather) that the fleet could not absorb",
    short="surge",
    position=60,
)
