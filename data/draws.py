"""Random draws for one day of orders: every uniform and normal the world's mechanics consume.

Draws are separate from mechanics so that interventions transform the same draws (common random
numbers): regenerating a world without an intervention changes nothing outside its scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data import world_config as cfg
from data.static_world import StaticWorld

N_HOURS = 24
N_CELLS = len(cfg.REGIONS) * len(cfg.CATEGORIES) * N_HOURS


def cell_index(region: np.ndarray, category: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Flat index of a (region, category, hour) demand cell."""
    return (region * len(cfg.CATEGORIES) + category) * N_HOURS + hour


def cell_parts(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(region, category, hour) of flat cell indices."""
    group, hour = np.divmod(cells, N_HOURS)
    region, category = np.divmod(group, len(cfg.CATEGORIES))
    return region, category, hour


LINE_FIELDS = ("line_order", "line_number", "sku", "qty", "u_oos", "u_substitute", "u_reject")


@dataclass
class OrderDraws:
    """Per-order and per-line random draws for a batch of candidate orders."""

    cell: np.ndarray
    region: np.ndarray
    category: np.ndarray
    hour: np.ndarray
    second_of_hour: np.ndarray
    store: np.ndarray
    user: np.ndarray
    lines: np.ndarray
    distance: np.ndarray
    z_drive: np.ndarray
    z_prep: np.ndarray
    z_travel: np.ndarray
    z_assign: np.ndarray
    u_partner: np.ndarray
    detour_min: np.ndarray
    u_pickup_wait: np.ndarray
    z_eta: np.ndarray
    u_cancel: np.ndarray
    u_ticket: np.ndarray
    u_rated: np.ndarray
    stars_noise: np.ndarray
    u_text: np.ndarray
    u_ticket_delay: np.ndarray
    u_rating_delay: np.ndarray
    u_handoff: np.ndarray
    u_accept: np.ndarray
    # per line
    line_order: np.ndarray
    line_number: np.ndarray
    sku: np.ndarray
    qty: np.ndarray
    u_oos: np.ndarray
    u_substitute: np.ndarray
    u_reject: np.ndarray

    def __len__(self) -> int:
        return len(self.cell)

    def subset(self, keep: np.ndarray) -> OrderDraws:
        """The draws of the orders where `keep` is true, with their lines."""
        order_index = np.flatnonzero(keep)
        line_keep = keep[self.line_order]
        remap = np.full(len(keep), -1)
        remap[order_index] = np.arange(len(order_index))
        values = {}
        for name, array in vars(self).items():
            values[name] = array[line_keep] if name in LINE_FIELDS else array[order_index]
        values["line_order"] = remap[self.line_order[line_keep]]
        return OrderDraws(**values)


def draw_orders(rng: np.random.Generator, cells: np.ndarray, world: StaticWorld) -> OrderDraws:
    """Draw everything random about the candidate orders placed in `cells` (one entry per order)."""
    n = len(cells)
    region, category, hour = cell_parts(cells)
    group = region * len(cfg.CATEGORIES) + category
    store = np.searchsorted(world.store_popularity_cdf, group + rng.random(n), side="right")
    lines = 1 + rng.poisson(cfg.EXTRA_LINES_MEAN[category])
    draws = dict(
        cell=cells,
        region=region,
        category=category,
        hour=hour,
        second_of_hour=rng.random(n) * 3600.0,
        store=store,
        user=(world.n_users * rng.random(n) ** 1.6).astype(np.int64),
        lines=lines,
        distance=cfg.DISTANCE_MEDIAN_MILES * rng.lognormal(0.0, cfg.DISTANCE_LOG_SD, n),
        z_drive=rng.standard_normal(n),
        z_prep=rng.standard_normal(n),
        z_travel=rng.standard_normal(n),
        z_assign=rng.standard_normal(n),
        u_partner=rng.random(n),
        detour_min=rng.exponential(cfg.BATCH_DETOUR_MEAN_MIN, n),
        u_pickup_wait=rng.random(n),
        z_eta=rng.standard_normal(n),
        u_cancel=rng.random(n),
        u_ticket=rng.random(n),
        u_rated=rng.random(n),
        stars_noise=rng.logistic(0.0, cfg.STARS_NOISE_SCALE, n),
        u_text=rng.random(n),
        u_ticket_delay=rng.random(n),
        u_rating_delay=rng.random(n),
        u_handoff=rng.random(n),
        u_accept=rng.random(n),
    )
    n_lines = int(lines.sum())
    line_order = np.repeat(np.arange(n), lines)
    line_start = np.concatenate([[0], np.cumsum(lines)[:-1]])
    line_category = category[line_order]
    u_sku = rng.random(n_lines)
    sku = np.empty(n_lines, dtype=np.int64)
    for index in range(len(cfg.CATEGORIES)):
        mask = line_category == index
        sku[mask] = np.searchsorted(world.sku_popularity_cdf[index], u_sku[mask], side="right")
    draws.update(
        line_order=line_order,
        line_number=np.arange(n_lines) - line_start[line_order] + 1,
        sku=sku,
        qty=1 + rng.poisson(0.35, n_lines),
        u_oos=rng.random(n_lines),
        u_substitute=rng.random(n_lines),
        u_reject=rng.random(n_lines),
    )
    return OrderDraws(**draws)
