"""Difference-in-differences for a logged change: effect estimate, pre-trend test, event study.

Treated units are orders inside the change's scope, control units are orders outside it; `post`
marks orders after the change. The estimate is the interaction of `outcome ~ treated * post`
fitted by least squares (Angrist & Pischke 2009, ch. 5), in outcome units (a late-rate effect of
0.10 is +10 points).

Speed: every regression here has regressors that are constant within a cell of
treated x post x cluster x relative period, so it is fitted by weighted least squares on cell
sums (weight = order count) instead of on the order rows. The point estimates are identical,
and so are the covariances: the cluster score is a sum over the cluster's cells, and the HC1
meat needs only each cell's sums of y and y squared. The small-sample factors use the number of
orders, so standard errors match `statsmodels` OLS on the order rows (checked in the tests).

Standard errors are cluster-robust (CRV1, Liang & Zeger 1986) with t(G - 1) inference, G being
the number of clusters. Clusters should be units whose shocks are shared by their orders (a day,
or day x region). With few clusters the cluster-robust variance is itself too noisy and tests
over-reject (Cameron & Miller 2015), so when any treated/control x pre/post cell spans fewer
than `min_clusters` clusters (a change three days into the data has three pre-period days),
HC1 (White 1980, MacKinnon & White 1985) is used instead and a note says so: HC1 ignores
within-cluster correlation and can be too small.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

Covariance = Literal["cluster", "HC1"]
MIN_CLUSTERS = 10
_INTERACTION = 3  # column of treated x post (or treated x trend) in the 2x2 design matrices


class DidError(ValueError):
    """Inputs a diff-in-diff cannot use: missing columns, bad values, an empty group or period."""


@dataclass(frozen=True)
class GroupMeans:
    """Weighted mean outcome and order count of each treated/control x pre/post group."""

    treated_pre: float
    treated_post: float
    control_pre: float
    control_post: float
    treated_pre_orders: float
    treated_post_orders: float
    control_pre_orders: float
    control_post_orders: float


@dataclass(frozen=True)
class PreTrend:
    """Pre-period test of parallel trends: treated minus control slope, outcome units per period.

    `passed` is p > alpha. Passing is weak evidence: the test has little power with few
    pre-periods, and conditioning on it biases the estimate (Roth 2022).
    """

    slope_difference: float
    std_error: float
    p_value: float
    passed: bool
    periods: int
    covariance: Covariance


@dataclass(frozen=True)
class EventPeriod:
    """Treated-minus-control difference in one relative period, minus that in the reference."""

    relative_period: int
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    treated_orders: float


@dataclass(frozen=True)
class EventStudy:
    """Coefficients of treated x relative-period dummies, pointwise CIs, for a chart.

    Period k holds times in [change_time + k * period_length, change_time + (k + 1) *
    period_length); the reference period has no row (its coefficient is 0 by construction).
    """

    change_time: object
    period_length: object
    reference_period: int
    periods: tuple[EventPeriod, ...]
    covariance: Covariance


@dataclass(frozen=True)
class DidResult:
    """Diff-in-diff estimate of a change's effect, in outcome units, with its diagnostics.

    `orders` is the number of orders (sum of weights), `clusters` the number of clusters, and
    `min_cell_clusters` the fewest clusters any treated/control x pre/post group spans, which
    decided `covariance`. `notes` say what fell back or was skipped, and why.
    """

    outcome: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    orders: float
    clusters: int
    min_cell_clusters: int
    covariance: Covariance
    group_means: GroupMeans
    pre_trend: PreTrend | None
    event_study: EventStudy | None
    notes: tuple[str, ...]

    @property
    def pre_trend_ok(self) -> bool | None:
        """Whether the pre-trend test passed; None when it could not be run."""
        return None if self.pre_trend is None else self.pre_trend.passed


@dataclass(frozen=True)
class _Fit:
    params: np.ndarray
    cov: np.ndarray
    df: float


def diff_in_diff(
    frame: pd.DataFrame,
    outcome: str,
    treated: str,
    post: str,
    cluster: str | Sequence[str],
    time: str | None = None,
    alpha: float = 0.05,
    *,
    weights: str | None = None,
    period_length: float | dt.timedelta | None = None,
    reference_period: int = -1,
    min_clusters: int = MIN_CLUSTERS,
) -> DidResult:
    """Estimate a change's effect on `outcome` by difference-in-differences.

    `frame` has one row per order, or one row per cell with `weights` naming its order count
    and `outcome` holding the cell mean (then WLS; HC1 treats those rows as the units).
    `treated` and `post` are boolean or 0/1 columns; `cluster` names the column(s) whose
    combinations are the clusters. With `time` (numeric or datetime) the result also has a
    pre-trend test and an event study: periods of `period_length` (default 1 time unit or one
    day) are counted from the first post-period time, so every pre row must precede every post
    row. Returns the treated x post interaction with its CI at level 1 - alpha.
    """
    _check_alpha(alpha)
    if min_clusters < 2:
        raise DidError(f"min_clusters must be at least 2, got {min_clusters}")
    cluster_columns = [cluster] if isinstance(cluster, str) else list(cluster)
    if not cluster_columns:
        raise DidError("cluster must name at least one column")
    _check_columns(frame, [outcome, treated, post, *cluster_columns, time, weights])

    y = _finite_numbers(frame[outcome], f"outcome column {outcome!r}")
    is_treated = _indicator(frame[treated], treated)
    is_post = _indicator(frame[post], post)
    weight = (
        np.ones(len(frame))
        if weights is None
        else _finite_numbers(frame[weights], f"weights column {weights!r}")
    )
    if weights is not None and (weight <= 0).any():
        raise DidError(f"weights column {weights!r} must be positive order counts")
    if frame[cluster_columns].isna().any().any():
        raise DidError(f"cluster columns {cluster_columns} have missing values")
    _check_groups(is_treated, is_post)
    cluster_code = frame.groupby(cluster_columns, sort=False).ngroup().to_numpy()

    notes: list[str] = []
    relative = np.zeros(len(frame), dtype=np.int64)
    change_time: object = None
    length: object = None
    if time is not None:
        relative, change_time, length = _relative_periods(frame[time], is_post, period_length)

    cells = _cells(y, weight, is_treated, is_post, cluster_code, relative)
    orders = float(cells["n"].sum())

    means = _group_means(cells)
    main_design = _interaction_design(cells["treated"], cells["post"])
    treated_by_post = cells["treated"] * 2 + cells["post"]
    fit, covariance, cell_clusters = _fit_with_fallback(
        cells, main_design, [treated_by_post], min_clusters, "the main estimate", notes
    )
    estimate, std_error, ci_low, ci_high, p_value = _coefficient(fit, _INTERACTION, alpha)

    pre_trend = None
    event_study = None
    if time is not None:
        pre_trend = _pre_trend(cells, alpha, min_clusters, notes)
        event_study = _event_study(
            cells, alpha, reference_period, min_clusters, change_time, length, notes
        )

    return DidResult(
        outcome=outcome,
        estimate=estimate,
        std_error=std_error,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        alpha=alpha,
        orders=orders,
        clusters=int(cells["cluster"].nunique()),
        min_cell_clusters=cell_clusters,
        covariance=covariance,
        group_means=means,
        pre_trend=pre_trend,
        event_study=event_study,
        notes=tuple(notes),
    )


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise DidError(f"alpha must be between 0 and 1, got {alpha}")


def _check_columns(frame: pd.DataFrame, columns: Sequence[str | None]) -> None:
    missing = [column for column in columns if column is not None and column not in frame]
    if missing:
        raise DidError(f"frame lacks the columns {missing}")


def _finite_numbers(values: pd.Series, what: str) -> np.ndarray:
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        raise DidError(f"{what} must be numeric, got dtype {values.dtype}")
    numbers = values.to_numpy(dtype=float, na_value=np.nan)
    bad = int((~np.isfinite(numbers)).sum())
    if bad:
        raise DidError(f"{what} has {bad} missing or infinite values; drop or fill them first")
    return numbers


def _indicator(values: pd.Series, name: str) -> np.ndarray:
    if values.isna().any():
        raise DidError(f"indicator column {name!r} has missing values")
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values) and values.isin([0, 1]).all():
        return values.to_numpy() == 1
    raise DidError(f"indicator column {name!r} must be boolean or 0/1")


def _check_groups(is_treated: np.ndarray, is_post: np.ndarray) -> None:
    if not is_treated.any():
        raise DidError("no treated rows: the change's scope matches no order")
    if is_treated.all():
        raise DidError("no control rows: every order is in the change's scope")
    if is_post.all():
        raise DidError("no pre-period rows: every order is after the change")
    if not is_post.any():
        raise DidError("no post-period rows: every order is before the change")
    for group, in_group in (("treated", is_treated), ("control", ~is_treated)):
        for period, in_period in (("pre", ~is_post), ("post", is_post)):
            if not (in_group & in_period).any():
                raise DidError(f"the {group} group has no {period}-period rows")


def _relative_periods(
    time: pd.Series, is_post: np.ndarray, period_length: float | dt.timedelta | None
) -> tuple[np.ndarray, object, object]:
    """Whole periods since the first post-period time (pre rows get -1, -2, ...)."""
    if time.isna().any():
        raise DidError(f"time column {time.name!r} has missing values")
    if pd.api.types.is_datetime64_any_dtype(time):
        if period_length is not None and not isinstance(period_length, dt.timedelta):
            raise DidError("period_length must be a timedelta for a datetime time column")
        length = pd.Timedelta(days=1) if period_length is None else pd.Timedelta(period_length)
        if length <= pd.Timedelta(0):
            raise DidError(f"period_length must be positive, got {period_length}")
    elif pd.api.types.is_numeric_dtype(time):
        length = 1.0 if period_length is None else period_length
        if isinstance(length, bool) or not isinstance(length, int | float) or length <= 0:
            raise DidError(f"period_length must be a positive number, got {period_length}")
    else:
        raise DidError(f"time column {time.name!r} must be numeric or datetime")
    change_time = time[is_post].min()
    last_pre_time = time[~is_post].max()
    if last_pre_time >= change_time:
        raise DidError(
            f"pre-period rows run to {last_pre_time}, after the first post-period row at "
            f"{change_time}: `post` must mean time >= the change time"
        )
    offsets = ((time - change_time) / length).to_numpy(dtype=float)
    return np.floor(offsets).astype(np.int64), change_time, length


def _cells(
    y: np.ndarray,
    weight: np.ndarray,
    is_treated: np.ndarray,
    is_post: np.ndarray,
    cluster_code: np.ndarray,
    relative: np.ndarray,
) -> pd.DataFrame:
    """Sufficient statistics of each treated x post x cluster x relative-period cell."""
    weighted = weight * y
    rows = pd.DataFrame(
        {
            "treated": is_treated.astype(np.int64),
            "post": is_post.astype(np.int64),
            "cluster": cluster_code,
            "relative": relative,
            "n": weight,
            "sum_y": weighted,
            "sum_w2": weight * weight,
            "sum_w2y": weight * weighted,
            "sum_w2y2": weighted * weighted,
        }
    )
    keys = ["treated", "post", "cluster", "relative"]
    return rows.groupby(keys, sort=True).sum().reset_index()


def _group_means(cells: pd.DataFrame) -> GroupMeans:
    sums = cells.groupby(["treated", "post"])[["sum_y", "n"]].sum()

    def mean(treated: int, post: int) -> float:
        return float(sums.loc[(treated, post), "sum_y"] / sums.loc[(treated, post), "n"])

    def count(treated: int, post: int) -> float:
        return float(sums.loc[(treated, post), "n"])

    return GroupMeans(
        treated_pre=mean(1, 0),
        treated_post=mean(1, 1),
        control_pre=mean(0, 0),
        control_post=mean(0, 1),
        treated_pre_orders=count(1, 0),
        treated_post_orders=count(1, 1),
        control_pre_orders=count(0, 0),
        control_post_orders=count(0, 1),
    )


def _interaction_design(first: pd.Series, second: pd.Series) -> np.ndarray:
    """Columns: intercept, first, second, first x second."""
    a = first.to_numpy(dtype=float)
    b = second.to_numpy(dtype=float)
    return np.column_stack([np.ones_like(a), a, b, a * b])


def _fit_with_fallback(
    cells: pd.DataFrame,
    design: np.ndarray,
    identifying_cells: Sequence[pd.Series],
    min_clusters: int,
    what: str,
    notes: list[str],
) -> tuple[_Fit, Covariance, int]:
    """Cluster-robust fit, or HC1 when a cell that identifies the coefficients has few clusters.

    `identifying_cells` label the cells (e.g. treated x post) whose contrasts identify the
    coefficients; the fewest clusters any one of them spans decides.
    """
    fewest = min(
        int(cells.groupby(label.to_numpy())["cluster"].nunique().min())
        for label in identifying_cells
    )
    if fewest >= min_clusters:
        return _wls(cells, design, cluster=True), "cluster", fewest
    notes.append(
        f"{what}: a group spans only {fewest} clusters (fewer than {min_clusters}), too few "
        "for cluster-robust SEs (Cameron & Miller 2015); HC1 SEs are used, which ignore "
        "within-cluster correlation and may be too small"
    )
    return _wls(cells, design, cluster=False), "HC1", fewest


def _wls(cells: pd.DataFrame, design: np.ndarray, cluster: bool) -> _Fit:
    """WLS on cell means with order-count weights; covariance as OLS on the order rows."""
    n = cells["n"].to_numpy()
    sum_y = cells["sum_y"].to_numpy()
    orders = n.sum()
    k = design.shape[1]
    if orders <= k:
        raise DidError(f"{orders:g} orders cannot fit a model with {k} coefficients")
    bread = np.linalg.inv(design.T @ (design * n[:, None]))
    params = bread @ (design.T @ sum_y)
    fitted = design @ params
    if cluster:
        scores = design * (sum_y - n * fitted)[:, None]
        codes, clusters = pd.factorize(cells["cluster"])
        cluster_scores = np.zeros((len(clusters), k))
        np.add.at(cluster_scores, codes, scores)
        meat = cluster_scores.T @ cluster_scores
        factor = len(clusters) / (len(clusters) - 1) * (orders - 1) / (orders - k)
        df = len(clusters) - 1
    else:
        squared_residuals = (
            cells["sum_w2y2"].to_numpy()
            - 2 * fitted * cells["sum_w2y"].to_numpy()
            + fitted**2 * cells["sum_w2"].to_numpy()
        ).clip(min=0)
        meat = design.T @ (design * squared_residuals[:, None])
        factor = orders / (orders - k)
        df = orders - k
    return _Fit(params=params, cov=factor * bread @ meat @ bread, df=df)


def _coefficient(fit: _Fit, index: int, alpha: float) -> tuple[float, float, float, float, float]:
    """Estimate, SE, CI bounds and two-sided p-value of one coefficient, t(df) inference."""
    estimate = float(fit.params[index])
    std_error = float(np.sqrt(max(fit.cov[index, index], 0.0)))
    half_width = float(stats.t.ppf(1 - alpha / 2, fit.df)) * std_error
    if std_error > 0:
        p_value = float(2 * stats.t.sf(abs(estimate) / std_error, fit.df))
    else:
        p_value = 0.0 if estimate != 0 else 1.0
    return estimate, std_error, estimate - half_width, estimate + half_width, p_value


def _pre_trend(
    cells: pd.DataFrame, alpha: float, min_clusters: int, notes: list[str]
) -> PreTrend | None:
    """Slope of treated minus control over the pre-period periods, `outcome ~ treated * trend`."""
    pre = cells[cells["post"] == 0].reset_index(drop=True)
    periods = pre.groupby("treated")["relative"].nunique()
    if periods.min() < 2:
        notes.append("pre-trend test skipped: a group has fewer than 2 pre-period periods")
        return None
    design = _interaction_design(pre["treated"], pre["relative"])
    fit, covariance, _ = _fit_with_fallback(
        pre, design, [pre["treated"]], min_clusters, "pre-trend test", notes
    )
    slope, std_error, _, _, p_value = _coefficient(fit, _INTERACTION, alpha)
    return PreTrend(
        slope_difference=slope,
        std_error=std_error,
        p_value=p_value,
        passed=p_value > alpha,
        periods=int(pre["relative"].nunique()),
        covariance=covariance,
    )


def _event_study(
    cells: pd.DataFrame,
    alpha: float,
    reference_period: int,
    min_clusters: int,
    change_time: object,
    period_length: object,
    notes: list[str],
) -> EventStudy | None:
    """Saturated treated x relative-period regression (an event study), reference omitted."""
    groups_per_period = cells.groupby("relative")["treated"].nunique()
    shared = groups_per_period[groups_per_period == 2].index.to_numpy()
    if reference_period not in shared:
        notes.append(
            f"event study skipped: reference period {reference_period} lacks treated or "
            "control orders"
        )
        return None
    dropped = len(groups_per_period) - len(shared)
    if dropped:
        notes.append(f"event study: {dropped} periods with only one group are left out")
    used = cells[cells["relative"].isin(shared)].reset_index(drop=True)
    others = shared[shared != reference_period]
    is_treated = used["treated"].to_numpy(dtype=float)
    dummies = (used["relative"].to_numpy()[:, None] == others[None, :]).astype(float)
    design = np.column_stack(
        [np.ones(len(used)), is_treated, dummies, dummies * is_treated[:, None]]
    )
    treated_by_period = used["relative"] * 2 + used["treated"]
    fit, covariance, _ = _fit_with_fallback(
        used, design, [treated_by_period], min_clusters, "event study", notes
    )
    treated_orders = used[used["treated"] == 1].groupby("relative")["n"].sum()
    periods = []
    for position, period in enumerate(others):
        estimate, std_error, ci_low, ci_high, _ = _coefficient(
            fit, 2 + len(others) + position, alpha
        )
        periods.append(
            EventPeriod(
                relative_period=int(period),
                estimate=estimate,
                std_error=std_error,
                ci_low=ci_low,
                ci_high=ci_high,
                treated_orders=float(treated_orders[period]),
            )
        )
    return EventStudy(
        change_time=change_time,
        period_length=period_length,
        reference_period=reference_period,
        periods=tuple(periods),
        covariance=covariance,
    )
