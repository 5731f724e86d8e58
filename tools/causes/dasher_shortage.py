"""Dasher shortage: too few dashers online for the orders."""

from tools.causes.base import CauseSpec, DriverCheck, Fallback, Hypothesis

CAUSE = CauseSpec(
    hypothesis=Hypothesis(
        kind="dasher_shortage",
        title="Dasher shortage: too few dashers online",
        mechanism="Fewer dashers online for the same orders: orders wait longer for a "
        "dasher to reach the store.",
        needs=("dasher_supply.online_dashers",),
        primary=DriverCheck("online_dashers", -1, "fewer dashers online in the slice"),
        supporting=(
            DriverCheck("dashers_per_order", -1, "fewer dashers per open order"),
            DriverCheck("dasher_wait_min", +1, "ready orders wait longer for a dasher"),
        ),
        # Fewer dashers for fewer orders (a holiday: the fleet is scheduled to the forecast) is
        # a quiet hour, not a shortage.
        refuting=(DriverCheck("orders_per_hour", -1, "orders fell with them (a quiet hour)"),),
        features=("dasher_wait_min", "busy_share", "orders_per_dasher"),
        change_names=("dasher_pay", "peak_pay", "dasher_incentives"),
        fallback=Fallback(
            needs=("deliveries.onshift_dashers",),
            primary=DriverCheck("onshift_dashers", -1, "fewer dashers on shift than usual"),
            supporting=(
                DriverCheck("orders_per_dasher", +1, "more outstanding orders per dasher"),
                DriverCheck("busy_share", +1, "a larger share of on-shift dashers busy"),
            ),
            note="no dasher_supply table; tested on the market state logged with each order "
            "(deliveries.onshift_dashers)",
        ),
        words=("dasher shortage", "shortage", "too few dashers", "dasher supply"),
        asked=r"\b(?:dashers?|drivers?|couriers?|riders?)\b|\bshortage|\bstaffing|\bsupply\b|\bfleet\b",
    ),
    plain="too few couriers are online for the demand",
    short="shortage",
    position=30,
)
