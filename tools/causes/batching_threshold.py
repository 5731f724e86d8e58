"""Batching policy: a looser batching threshold puts more orders on longer shared routes."""

from tools.causes.base import CauseSpec, DriverCheck, Fallback, Hypothesis

CAUSE = CauseSpec(
    hypothesis=Hypothesis(
        kind="batching_threshold",
        title="Batching policy: more orders batched, with longer detours",
        mechanism="A looser batching threshold puts more orders on shared routes; batched "
        "orders wait for the partner's pickup and ride its detour, so they arrive late.",
        needs=(
            "deliveries.batched_flag",
            "deliveries.distance",
            "deliveries.actual_eta",
            "deliveries.merchant_prep_time",
            "deliveries.dasher_wait",
        ),
        # The threshold is the longest detour allowed, so loosening it lengthens the detours
        # batched orders ride. The batched share is only supporting: a busier fleet finds
        # more batch partners too (a dasher shortage or a surge raises it with no policy
        # change).
        primary=DriverCheck(
            "batch_detour_min", +1, "batched orders ride longer detours than solo orders"
        ),
        supporting=(
            DriverCheck("batched_rate", +1, "more orders batched in the slice"),
            DriverCheck("duration_min", +1, "deliveries take longer"),
            DriverCheck("dasher_wait_min", +1, "ready orders wait for the partner pickup"),
        ),
        features=("batched",),
        change_names=("batching_threshold", "batching_policy", "batching"),
        fallback=Fallback(
            needs=("deliveries.batched_flag",),
            primary=DriverCheck("batched_rate", +1, "more orders batched in the slice"),
            supporting=(
                DriverCheck("duration_min", +1, "deliveries take longer"),
                DriverCheck("dasher_wait_min", +1, "ready orders wait for the partner pickup"),
            ),
            note="no pickup legs or distances to measure detours; tested on the batched share, "
            "which a busier fleet also raises",
        ),
        words=("batching", "batch"),
        asked=r"\bbatch\w*|\bstack\w*|\bdouble[\s-]*dispatch\w*",
    ),
    plain="a batching policy change: more orders share one courier trip, with longer detours",
    short="batching",
    position=10,
)
