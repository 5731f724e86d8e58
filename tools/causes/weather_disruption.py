"""Weather disruption: a storm in a region slows drives and brings more orders."""

from tools.causes.base import CauseSpec, DriverCheck, Hypothesis

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
    ),
    plain="a storm that slowed deliveries and brought more orders than couriers could absorb",
    short="weather",
    position=55,
)
