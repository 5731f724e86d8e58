"""Merchant prep time drift: stores take longer to have orders ready."""

from tools.causes.base import CauseSpec, DriverCheck, Hypothesis

CAUSE = CauseSpec(
    hypothesis=Hypothesis(
        kind="prep_time_drift",
        title="Merchant prep time drifted up",
        mechanism="Stores take longer to have orders ready; the ETA model still expects "
        "the old prep times, so orders leave the store late.",
        needs=("deliveries.merchant_prep_time",),
        primary=DriverCheck("prep_min", +1, "merchant prep time up in the slice"),
        supporting=(
            DriverCheck("duration_min", +1, "deliveries take longer"),
            DriverCheck("dasher_wait_min", -1, "dashers wait for food, not food for dashers"),
        ),
        features=("prep_min",),
        change_names=("merchant_workflow", "prep_time", "menu_sync"),
        words=("prep",),
        asked=r"\bprep\w*|\bkitchens?\b|\bmerchants?\b|\brestaurants?\b|\bstores?\s+(?:were\s+)?slow\w*",
    ),
    plain="stores are taking longer to prepare orders",
    short="prep",
    position=20,
)
