"""The parts of a synthetic world that do not change day to day: stores and SKU catalogs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data import world_config as cfg

_STORE_NAME_WORDS = {
    "grocery": (
        ("Fresh", "Green", "Harvest", "Corner", "Family", "Valley"),
        ("Market", "Grocer", "Foods", "Pantry"),
    ),
    "convenience": (
        ("Quick", "Handy", "Sunrise", "Night Owl", "Express", "City"),
        ("Mart", "Stop", "Shop", "Corner"),
    ),
    "retail": (
        ("Urban", "Bright", "Home", "Daily", "Metro", "Prime"),
        ("Goods", "Supply", "Outfitters", "Store"),
    ),
}


@dataclass(frozen=True)
class StaticWorld:
    """Stores (sorted by region, then category) and per-category SKU catalogs, as arrays."""

    store_ids: np.ndarray  # str
    store_region: np.ndarray  # region index
    store_category: np.ndarray  # category index
    store_names: np.ndarray  # str
    store_prep_factor: np.ndarray  # multiplies the category's prep-time median
    store_oos_factor: np.ndarray  # multiplies SKU out-of-stock probabilities
    store_popularity_cdf: np.ndarray  # group index + within-(region, category) cumulative share
    group_first_store: np.ndarray  # first store index of each (region, category) group
    sku_price: list[np.ndarray]  # per category: unit price (USD) by SKU index
    sku_oos: list[np.ndarray]  # per category: base out-of-stock probability by SKU index
    sku_popularity_cdf: list[np.ndarray]  # per category: cumulative choice probability
    n_users: int

    @property
    def n_stores(self) -> int:
        return len(self.store_ids)

    def sku_ids(self, category: np.ndarray, sku_index: np.ndarray) -> pa.Array:
        """Ids such as 'SKU-G-00042' for SKU indices within each line's category catalog."""
        prefixes = pa.array([f"SKU-{name[0].upper()}-" for name in cfg.CATEGORIES]).take(
            pa.array(category, pa.int64())
        )
        digits = pc.utf8_lpad(pc.cast(pa.array(sku_index, pa.int64()), pa.string()), 5, "0")
        return pc.binary_join_element_wise(prefixes, digits, "")

    def stores_table(self) -> pa.Table:
        return pa.table(
            {
                "store_id": pa.array(self.store_ids, pa.string()),
                "region": pa.array(np.asarray(cfg.REGIONS)[self.store_region], pa.string()),
                "category": pa.array(np.asarray(cfg.CATEGORIES)[self.store_category], pa.string()),
                "name": pa.array(self.store_names, pa.string()),
            }
        )


def prefixed_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Vectorized zero-padded ids such as 'S00042'."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def build_static_world(seed: int, orders_per_day: int) -> StaticWorld:
    """Stores, their hidden traits, and SKU catalogs; deterministic per seed and size."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7_919]))
    total_stores = max(
        len(cfg.REGIONS) * len(cfg.CATEGORIES),
        round(orders_per_day * cfg.STORES_PER_1000_DAILY_ORDERS / 1000),
    )
    group_share = np.outer(cfg.REGION_SHARE, cfg.CATEGORY_SHARE).ravel()
    per_group = np.maximum(1, np.round(group_share * total_stores).astype(int))
    store_group = np.repeat(np.arange(len(per_group)), per_group)
    n_stores = len(store_group)
    store_region = store_group // len(cfg.CATEGORIES)
    store_category = store_group % len(cfg.CATEGORIES)

    popularity = rng.lognormal(0.0, 0.8, n_stores)
    group_totals = np.bincount(store_group, weights=popularity)
    within_cdf = np.zeros(n_stores)
    group_first = np.concatenate([[0], np.cumsum(per_group)[:-1]])
    for group, first in enumerate(group_first):
        last = first + per_group[group]
        within_cdf[first:last] = np.cumsum(popularity[first:last]) / group_totals[group]
    within_cdf[group_first + per_group - 1] = 1.0

    names = []
    word_draws = rng.integers(0, 6, n_stores), rng.integers(0, 4, n_stores)
    for index in range(n_stores):
        first_words, second_words = _STORE_NAME_WORDS[cfg.CATEGORIES[store_category[index]]]
        names.append(
            f"{first_words[word_draws[0][index]]} {second_words[word_draws[1][index]]} #{index + 1}"
        )

    sku_price, sku_oos, sku_cdf = [], [], []
    for category in range(len(cfg.CATEGORIES)):
        size = int(cfg.CATALOG_SIZE[category])
        price = np.round(
            cfg.PRICE_MEDIAN_USD[category] * rng.lognormal(0.0, cfg.PRICE_LOG_SD[category], size), 2
        )
        sku_price.append(np.maximum(price, 0.49))
        sku_oos.append(rng.beta(*cfg.OOS_BETA, size))
        zipf_weights = 1.0 / np.arange(1, size + 1) ** 0.9
        rng.shuffle(zipf_weights)
        cdf = np.cumsum(zipf_weights) / zipf_weights.sum()
        cdf[-1] = 1.0
        sku_cdf.append(cdf)

    return StaticWorld(
        store_ids=np.asarray(
            prefixed_ids("S", np.arange(1, n_stores + 1), 5).to_numpy(zero_copy_only=False)
        ),
        store_region=store_region,
        store_category=store_category,
        store_names=np.asarray(names),
        store_prep_factor=rng.lognormal(0.0, 0.18, n_stores),
        store_oos_factor=rng.lognormal(0.0, cfg.STORE_OOS_LOG_SD, n_stores),
        store_popularity_cdf=store_group + within_cdf,
        group_first_store=group_first,
        sku_price=sku_price,
        sku_oos=sku_oos,
        sku_popularity_cdf=sku_cdf,
        n_users=max(100, orders_per_day * cfg.USERS_PER_DAILY_ORDER),
    )
