import numpy as np
import pytest

from provador.base.errors import RecipeError
from provador.core import splits

LABELS = np.repeat(np.arange(10, dtype=np.uint8), [100, 200, 50, 150, 100, 100, 100, 100, 50, 50])


def test_first_is_the_notebooks_split():
    images = np.arange(len(LABELS))
    x_train, y_train, x_valid, y_valid = splits.split(images, LABELS, 100, "first")
    np.testing.assert_array_equal(x_valid, np.arange(100))
    np.testing.assert_array_equal(x_train, np.arange(100, len(LABELS)))
    np.testing.assert_array_equal(y_valid, LABELS[:100])


def test_fraction_and_count_agree():
    assert splits.validation_count(0.1, 1000) == splits.validation_count(100, 1000) == 100


def test_random_split_is_seeded_and_disjoint():
    a = splits.validation_indices(LABELS, 0.2, "random", seed=3)
    b = splits.validation_indices(LABELS, 0.2, "random", seed=3)
    c = splits.validation_indices(LABELS, 0.2, "random", seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    x_train, _, x_valid, _ = splits.split(np.arange(len(LABELS)), LABELS, 0.2, "random", seed=3)
    assert len(set(x_train) & set(x_valid)) == 0
    assert len(x_train) + len(x_valid) == len(LABELS)


def test_stratified_split_keeps_each_class_share():
    valid = splits.validation_indices(LABELS, 0.1, "stratified", seed=0)
    assert len(valid) == 100
    counts = np.bincount(LABELS[valid], minlength=10)
    np.testing.assert_array_equal(counts, np.bincount(LABELS) // 10)


@pytest.mark.parametrize("size", [0, 1000, 1.5, -3, "10"])
def test_impossible_sizes_are_rejected(size):
    with pytest.raises(RecipeError, match="data.validation"):
        splits.validation_indices(LABELS, size)


def test_unknown_strategy_lists_the_choices():
    with pytest.raises(RecipeError, match="first, random, stratified"):
        splits.validation_indices(LABELS, 10, "sorted")
