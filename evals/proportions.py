"""Proportions with confidence intervals (accuracy over scenarios)."""

from __future__ import annotations

import math

from pydantic import BaseModel

Z_95 = 1.959963984540054


def wilson_interval(hits: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = hits / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


class Proportion(BaseModel):
    """hits out of n, with its Wilson 95% interval."""

    hits: int
    n: int
    rate: float | None
    low: float
    high: float

    @classmethod
    def of(cls, hits: int, n: int) -> Proportion:
        low, high = wilson_interval(hits, n)
        return cls(hits=hits, n=n, rate=hits / n if n else None, low=low, high=high)

    def text(self) -> str:
        """e.g. "47/50 = 94.0% (95% CI 83.8%-97.9%)"; "-" when n is 0."""
        if not self.n:
            return "-"
        return f"{self.hits}/{self.n} = {self.rate:.1%} (95% CI {self.low:.1%}-{self.high:.1%})"
