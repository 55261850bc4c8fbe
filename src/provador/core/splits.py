"""Hold out a validation split from the training images.

`first` is the notebook's split (the first N images). `random` shuffles with a
seed; `stratified` keeps each class's share, which makes a smaller validation
split a more honest estimate of test accuracy.
"""

from __future__ import annotations

import numpy as np

from provador.base.choices import STRATEGIES
from provador.base.errors import RecipeError
from provador.base.i18n import _


def validation_count(size: int | float, total: int) -> int:
    """Turn a count or a fraction of `total` into a number of validation images."""
    if isinstance(size, bool) or not isinstance(size, (int, float)):
        raise RecipeError(
            _(
                "Expected `data.validation` to be a count (e.g. 1000) or a fraction (e.g. 0.1). Received: {value!r}"
            ).format(value=size)
        )
    if isinstance(size, float) and size < 1:
        count = int(round(size * total))
    elif float(size).is_integer():
        count = int(size)
    else:
        count = -1  # 1.5 images: neither a count nor a fraction
    if not 1 <= count < total:
        raise RecipeError(
            _(
                "Expected `data.validation` to leave both splits non-empty: a count from 1 to {last} or a fraction "
                "between 0 and 1. Received: {value!r} of {total} images."
            ).format(last=total - 1, value=size, total=total)
        )
    return count


def validation_indices(
    labels: np.ndarray, size: int | float, strategy: str = "first", seed: int | None = None
) -> np.ndarray:
    """Indices (sorted) of the images held out for validation."""
    if strategy not in STRATEGIES:
        raise RecipeError(
            _("Expected `data.split` to be one of {choices}. Received: {value!r}").format(
                choices=", ".join(STRATEGIES), value=strategy
            )
        )
    total = len(labels)
    count = validation_count(size, total)
    if strategy == "first":
        return np.arange(count)
    rng = np.random.default_rng(seed)
    if strategy == "random":
        return np.sort(rng.permutation(total)[:count])
    # Stratified: give each class its share, then hand out the rounding remainder
    # to the classes with the largest fractional parts.
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * count / total
    per_class = np.floor(exact).astype(int)
    remainder = count - per_class.sum()
    per_class[np.argsort(-(exact - per_class), kind="stable")[:remainder]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == cls))[:n] for cls, n in zip(classes, per_class)]
    return np.sort(np.concatenate(chosen))


def split(
    images: np.ndarray,
    labels: np.ndarray,
    size: int | float,
    strategy: str = "first",
    seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (x_train, y_train, x_valid, y_valid); arrays keep their dtype."""
    valid = validation_indices(labels, size, strategy, seed)
    mask = np.ones(len(labels), dtype=bool)
    mask[valid] = False
    if strategy == "first":  # plain slices: no copies, exactly the notebook's arrays
        n = len(valid)
        return images[n:], labels[n:], images[:n], labels[:n]
    return images[mask], labels[mask], images[valid], labels[valid]
