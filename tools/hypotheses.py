"""The hypothesis library: one entry per root-cause kind.

Each entry declares the data it needs, the drivers that test it (a primary driver that must
move the expected way, supporting drivers, refuting drivers that must not move), the order
features the driver decomposition credits to it, and the change-log names that would
implement it. The tools that test it follow from these (driver_shift for drivers, change_log
and diff_in_diff for logged changes, shap_attribution for the features). Adding a hypothesis is
one new entry here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from data.scenario import CAUSE_KINDS


@dataclass(frozen=True)
class DriverCheck:
    """A driver and the direction it should move (+1 up, -1 down) if the hypothesis holds."""

    driver: str
    direction: int
    why: str


@dataclass(frozen=True)
class Fallback:
    """Another way to test a hypothesis when the data it `needs` is absent (real logs)."""

    needs: tuple[str, ...]
    primary: DriverCheck
    supporting: tuple[DriverCheck, ...]
    note: str


@dataclass(frozen=True)
class Hypothesis:
    """A root-cause hypothesis and how to test it."""

    kind: str
    title: str
    mechanism: str
    needs: tuple[str, ...]
    primary: DriverCheck
    supporting: tuple[DriverCheck, ...] = ()
    refuting: tuple[DriverCheck, ...] = ()
    features: tuple[str, ...] = ()
    change_names: tuple[str, ...] = ()
    fallback: Fallback | None = None
    words: tuple[str, ...] = ()  # how an answer names this cause ("batching"), lower case

    def for_data(self, present: Collection[str]) -> tuple[Hypothesis, str | None]:
        """This hypothesis as testable on data holding the 'table.column's `present`: its
        fallback test when its own data is missing and the fallback's is there (with a note)."""
        fallback = self.fallback
        if fallback is None or all(n in present for n in self.needs):
            return self, None
        if not all(n in present for n in fallback.needs):
            return self, None
        adapted = replace(
            self, needs=fallback.needs, primary=fallback.primary, supporting=fallback.supporting
        )
        return adapted, f"{self.kind}: {fallback.note}"

    @property
    def tools(self) -> tuple[str, ...]:
        """The tools that test this hypothesis."""
        return ("driver_shift", "change_log", "diff_in_diff", "shap_attribution")


LIBRARY: dict[str, Hypothesis] = {
    h.kind: h
    for h in (
        Hypothesis(
            kind="batching_threshold",
            title="Batching policy: more orders batched, with longer detours",
            mechanism="A looser batching threshold puts more orders on shared routes; batched "
            "orders wait for the partner's pickup and ride its detour, so they arrive late.",
            needs=(
                "deliveries.batched_flag", "deliveries.distance", "deliveries.actual_eta",
                "deliveries.merchant_prep_time", "deliveries.dasher_wait",
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
        ),
        Hypothesis(
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
        ),
        Hypothesis(
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
        ),
        Hypothesis(
            kind="inventory_drop",
            title="Inventory: in-stock probability dropped",
            mechanism="More ordered lines are out of stock: substitutions and missing items "
            "rise, then refunds, tickets and low ratings.",
            needs=("inventory_events.in_stock_prob", "items.missing_flag"),
            primary=DriverCheck("in_stock_prob", -1, "estimated in-stock probability down"),
            supporting=(
                DriverCheck("item_issue_rate", +1, "more lines substituted or missing"),
                DriverCheck("oos_rate", +1, "more stock checks find items out of stock"),
            ),
            features=("in_stock_prob",),
            change_names=("inventory_feed", "inventory_model", "catalog"),
            words=("inventory", "in-stock", "out of stock", "stock"),
        ),
        Hypothesis(
            kind="eta_model_bias",
            title="ETA model regression: quotes too short",
            mechanism="A new ETA model quotes shorter times than deliveries take; deliveries are "
            "no slower, but more of them miss the quote.",
            needs=("orders.promised_eta", "orders.eta_model_version"),
            primary=DriverCheck("quoted_min", -1, "quoted ETAs got shorter in the slice"),
            supporting=(
                DriverCheck("eta_bias_min", +1, "arrivals later than quoted"),
            ),
            refuting=(
                DriverCheck("duration_min", +1, "deliveries themselves got slower"),
            ),
            features=("quoted_min", "new_eta_model"),
            change_names=("eta_model", "eta_model_version"),
            words=("eta model", "quotes too short", "eta regression"),
        ),
        Hypothesis(
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
        ),
    )
}  # fmt: skip

assert set(LIBRARY) == set(CAUSE_KINDS), "every cause kind needs a hypothesis"
