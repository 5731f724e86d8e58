"""ETA model regression: a new model quotes delivery times that are too short."""

from tools.causes.base import CauseSpec, DriverCheck, Hypothesis

CAUSE = CauseSpec(
    hypothesis=Hypothesis(
        kind="eta_model_bias",
        title="ETA model regression: quotes too short",
        mechanism="A new ETA model quotes shorter times than deliveries take; deliveries are "
        "no slower, but more of them miss the quote.",
        needs=("orders.promised_eta", "orders.eta_model_version"),
        primary=DriverCheck("quoted_min", -1, "quoted ETAs got shorter in the slice"),
        supporting=(DriverCheck("eta_bias_min", +1, "arrivals later than quoted"),),
        refuting=(DriverCheck("duration_min", +1, "deliveries themselves got slower"),),
        features=("quoted_min", "new_eta_model"),
        change_names=("eta_model", "eta_model_version"),
        words=("eta model", "quotes too short", "eta regression"),
        asked=r"\betas?\b|\bquot\w*|\beta\s+model\b|\bestimates?\b",
    ),
    plain="the delivery time we promise customers became too optimistic",
    short="eta_model",
    position=50,
)
