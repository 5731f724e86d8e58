"""Inventory drop: ordered items are out of stock more often."""

from tools.causes.base import CauseSpec, DriverCheck, Hypothesis

CAUSE = CauseSpec(
    hypothesis=Hypothesis(
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
        asked=r"\binventory\b|\bstock\w*|\bout\s+of\s+stock\b|\bsubstitut\w*|\bmissing\s+items?\b|\bcatalog\w*",
    ),
    plain="items are out of stock more often, so more are substituted or missing",
    short="inventory",
    position=40,
)
