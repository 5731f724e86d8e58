"""What-if parameters: one declaration per parameter in the action registry (unit, default,
range), clear errors for parameters an action does not take or values out of range, parameter
figures in their real units, and SKU suppression among the recommendations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tools.actions import ACTIONS, ParameterError
from tools.base import Figure, ToolContext, ToolError

SCOPE: dict[str, Any] = {
    "filters": {"category": ["grocery"], "hour": [18, 19, 20]},
    "start": "2026-01-04T18:00",
    "end": "2026-01-06T00:00",
}
DECLARED = {
    ("revert_batching", "target_share"): ("share", None, 0.0, 0.9),
    ("eta_buffer", "minutes"): ("minutes", 5.0, 0.5, 30.0),
    ("throttle_demand", "share"): ("share", 0.15, 0.01, 0.5),
    ("peak_pay", "usd_per_order"): ("usd", None, 0.25, 20.0),
    ("suppress_skus", "threshold"): ("share", 0.5, 0.05, 0.95),
    ("storm_eta_buffer", "minutes"): ("minutes", None, 0.5, 30.0),
}


@pytest.fixture(scope="module")
def context(small_scenario, make_world) -> Iterator[ToolContext]:
    import tools.recommend  # noqa: F401  (registers what_if and recommend_actions)

    made = ToolContext(world_dir=make_world(small_scenario("demo")))
    yield made
    made.close()


def what_if(context: ToolContext, action: str, **parameters: float) -> Any:
    output, _ = context.call("what_if", {**SCOPE, "action": action, "parameters": parameters})
    return output


# --- the registry ----------------------------------------------------------------------------


def test_each_parameter_is_declared_once_with_its_unit_default_and_range() -> None:
    declared = {
        (spec.name, p.name): (p.unit, p.default, p.minimum, p.maximum)
        for spec in ACTIONS.values()
        for p in spec.parameter_specs
    }
    assert declared == DECLARED
    for (action, name), (_, default, _, _) in DECLARED.items():
        assert ACTIONS[action].parameters.get(name) == default  # defaults come from the specs
        if default is not None:
            ACTIONS[action].parameter(name).check(default)


def test_default_parameters_give_the_plain_title_and_others_a_title_that_says_them() -> None:
    for spec in ACTIONS.values():
        assert spec.title_for(spec.parameters) == spec.title
        assert spec.title_for({}) == spec.title
    assert ACTIONS["eta_buffer"].title_for({"minutes": 3}) == (
        "Add 3 minutes of buffer to quoted ETAs in the affected scope"
    )
    assert "$3.00 per order" in ACTIONS["peak_pay"].title_for({"usd_per_order": 3})
    assert ACTIONS["suppress_skus"].title_for({"threshold": 0.4}).endswith("under 40%")
    assert ACTIONS["suppress_skus"].title == "Hide SKUs whose in-stock estimate is under 50%"


def test_a_parameter_the_action_does_not_take_is_an_error_naming_what_it_takes() -> None:
    with pytest.raises(ParameterError) as raised:
        ACTIONS["peak_pay"].validate({"minutes": 3})
    assert str(raised.value) == "peak_pay takes usd_per_order (USD per order, 0.25-20); got minutes"
    with pytest.raises(ParameterError, match="inventory_rollback takes no parameters; got share"):
        ACTIONS["inventory_rollback"].validate({"share": 0.1})


@pytest.mark.parametrize(("action", "name"), sorted(DECLARED))
def test_values_outside_a_parameters_range_are_errors_and_its_ends_are_allowed(
    action: str, name: str
) -> None:
    spec = ACTIONS[action]
    low, high = spec.parameter(name).minimum, spec.parameter(name).maximum
    assert spec.validate({name: low}) == {name: low}
    assert spec.validate({name: high}) == {name: high}
    for outside in (low - 0.01, high + 0.01, float("nan")):
        with pytest.raises(ParameterError, match="is outside"):
            spec.validate({name: outside})


def test_out_of_range_messages_say_the_value_and_the_range_in_their_units() -> None:
    messages = {}
    for action, parameters in (
        ("eta_buffer", {"minutes": 45}),
        ("peak_pay", {"usd_per_order": 30}),
        ("suppress_skus", {"threshold": 0.99}),
    ):
        with pytest.raises(ParameterError) as raised:
            ACTIONS[action].validate(parameters)
        messages[action] = str(raised.value)
    assert messages == {
        "eta_buffer": "an ETA buffer of 45 minutes is outside 0.5-30 minutes",
        "peak_pay": "a peak pay of $30.00 per order is outside $0.25-$20.00 per order",
        "suppress_skus": "an in-stock threshold of 99% is outside 5%-95%",
    }


# --- the what_if tool ------------------------------------------------------------------------


def test_what_if_rejects_a_parameter_the_action_does_not_take(context: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"peak_pay takes usd_per_order .*; got minutes"):
        what_if(context, "peak_pay", minutes=3)


def test_what_if_rejects_a_value_out_of_range(context: ToolContext) -> None:
    with pytest.raises(ToolError, match="an ETA buffer of 45 minutes is outside 0.5-30 minutes"):
        what_if(context, "eta_buffer", minutes=45)


def test_an_unknown_action_lists_every_action_with_its_title_and_parameters(
    context: ToolContext,
) -> None:
    with pytest.raises(ToolError) as raised:
        what_if(context, "rain_dance")
    message = str(raised.value)
    assert "rain_dance" in message
    for spec in ACTIONS.values():
        assert f"{spec.name}: {spec.title} (takes {spec.signature()})" in message
    assert "threshold (share, 0.05-0.95)" in message


def test_an_eta_buffer_of_3_minutes_is_cited_in_minutes_and_gains_less_than_5(
    context: ToolContext,
) -> None:
    three, five = what_if(context, "eta_buffer", minutes=3), what_if(context, "eta_buffer")
    assert three.figures()["parameter.minutes"] == Figure(value=3.0, unit="minutes")
    assert three.title.startswith("Add 3 minutes of buffer") and three.summary.startswith(
        three.title
    )
    assert five.title == ACTIONS["eta_buffer"].title
    gain = {o.parameters["minutes"]: o.deltas["on_time_rate"].estimate for o in (three, five)}
    assert 0 < gain[3.0] < gain[5.0]


def test_peak_pay_of_3_dollars_costs_3_dollars_per_order_cited_in_usd(
    context: ToolContext,
) -> None:
    output = what_if(context, "peak_pay", usd_per_order=3)
    figures = output.figures()
    assert output.cost_usd_per_order == 3.0
    assert figures["parameter.usd_per_order"] == Figure(value=3.0, unit="usd")
    assert figures["cost_usd_per_order"] == Figure(value=3.0, unit="usd")
    assert "$3.00 per order" in output.title


def test_suppressing_skus_cites_its_threshold_as_a_share(context: ToolContext) -> None:
    output = what_if(context, "suppress_skus", threshold=0.4)
    figures = output.figures()
    assert figures["parameter.threshold"] == Figure(value=0.4, unit="share")
    assert figures["efficiency.lines_hidden_share.estimate"].unit == "share"
    assert output.title == "Hide SKUs whose in-stock estimate is under 40%"
    for name, interval in output.deltas.items():
        assert interval.low <= interval.estimate <= interval.high, name


def test_revert_batching_cites_the_batched_share_it_went_back_to(context: ToolContext) -> None:
    output = what_if(context, "revert_batching")
    assert output.figures()["parameter.target_share"].unit == "share"
    assert output.title == ACTIONS["revert_batching"].title


# --- recommendations -------------------------------------------------------------------------


def _recommended(context: ToolContext, causes: list[dict[str, Any]]) -> list[str]:
    output, _ = context.call("recommend_actions", {**SCOPE, "causes": causes})
    return [r.action for r in output.recommendations]


def test_sku_suppression_is_recommended_after_the_rollback_for_an_inventory_drop(
    context: ToolContext,
) -> None:
    ranked = _recommended(context, [{"kind": "inventory_drop", "confidence": 0.7}])
    assert ranked == ["inventory_rollback", "suppress_skus"]


def test_sku_suppression_is_not_a_candidate_for_a_batching_cause(context: ToolContext) -> None:
    ranked = _recommended(context, [{"kind": "batching_threshold", "confidence": 0.9}])
    assert "suppress_skus" not in ranked and ranked[0] == "revert_batching"
