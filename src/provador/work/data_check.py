"""`provador data check`: what is wrong with the data itself, before blaming a model.

- Exact duplicates (the same 784 bytes) within the training file, within the test file and
  across them, by hashing every image.
- Near duplicates: pairs whose mean absolute pixel difference is at most `near` (a share of the
  0-255 range; 0.01 is 2.55 grey levels), found in a 64-component PCA space with a bound that
  misses none (see `_near`), each candidate checked at full resolution.
- With a trained run: images whose label the model disagrees with strongly (the label's
  probability under `doubt`), the candidates for mislabels, surest first;
  and the test accuracy without the test images that have a copy in training ("clean test").
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from provador.core.datasets import Dataset

PCA_COMPONENTS = 64
CHUNK = 1024


@dataclass
class DataCheck:
    images: dict[str, int]
    near: float
    exact: dict[str, list[list[int]]]  # "train", "test": groups of indices; "across": [train, test] pairs
    near_pairs: dict[str, list[tuple[int, int, float]]]  # the same, with their mean absolute difference
    doubts: list[dict] = field(default_factory=list)  # with a run: the labels it disagrees with most
    clean_test: dict | None = None

    def to_dict(self) -> dict:
        return {
            "images": self.images, "near_threshold": self.near,
            "exact_duplicates": {k: len(v) for k, v in self.exact.items()},
            "near_duplicates": {k: len(v) for k, v in self.near_pairs.items()},
            "test_images_also_in_training": len(self.test_in_training()),
            "exact": self.exact,
            "near": {k: [[int(a), int(b), round(float(d), 5)] for a, b, d in v] for k, v in self.near_pairs.items()},
            "label_doubts": self.doubts, "clean_test": self.clean_test,
        }  # fmt: skip

    def test_in_training(self) -> set[int]:
        """Test images with an exact or near copy among the training images."""
        return {t for _, t in self.exact["across"]} | {t for _, t, _ in self.near_pairs["across"]}


def training_and_test(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The training file whole (validation split and training split, in file order when the split
    is `first`) and the test file."""
    x_train = np.concatenate([dataset.x_valid, dataset.x_train])
    y_train = np.concatenate([dataset.y_valid, dataset.y_train])
    return x_train, y_train, dataset.x_test, dataset.y_test


def check(dataset: Dataset, near: float = 0.01, probabilities: dict | None = None, doubt: float = 0.02) -> DataCheck:
    """Duplicates in `dataset`'s files; with `probabilities` ({"train": …, "test": …}, a model's
    answers in the order of `training_and_test`) the label doubts and the clean test accuracy."""
    x_train, y_train, x_test, y_test = training_and_test(dataset)
    train_keys, test_keys = _keys(x_train), _keys(x_test)  # each image hashed once
    exact = {"train": _exact_groups(train_keys), "test": _exact_groups(test_keys),
             "across": _exact_across(train_keys, test_keys)}  # fmt: skip
    projection = _projection(x_train)
    p_train, p_test = _project(x_train, projection), _project(x_test, projection)
    near_pairs = {
        "train": _near(x_train, p_train, x_train, p_train, near, same=True),
        "test": _near(x_test, p_test, x_test, p_test, near, same=True),
        "across": [(a, b, d) for b, a, d in _near(x_test, p_test, x_train, p_train, near, same=False)],
    }
    result = DataCheck({"train": len(x_train), "test": len(x_test)}, near, exact, near_pairs)
    if probabilities is not None:
        result.doubts = _doubts(probabilities, y_train, y_test, doubt)
        result.clean_test = _clean_test(probabilities["test"], y_test, result.test_in_training())
    return result


def _keys(images: np.ndarray) -> list[bytes]:
    return [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images]


def _exact_groups(keys: list[bytes]) -> list[list[int]]:
    groups = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    return [g for g in groups.values() if len(g) > 1]


def _exact_across(train_keys: list[bytes], test_keys: list[bytes]) -> list[list[int]]:
    where = defaultdict(list)
    for i, key in enumerate(train_keys):
        where[key].append(i)
    return [[i, t] for t, key in enumerate(test_keys) for i in where.get(key, [])]


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255


def _projection(images: np.ndarray):
    flat = _flat(images[:: max(1, len(images) // 10000)])  # 10,000 images are plenty for the axes
    mean = flat.mean(axis=0)
    _, _, axes = np.linalg.svd(flat - mean, full_matrices=False)
    return mean, axes[:PCA_COMPONENTS].T


def _project(images: np.ndarray, projection) -> np.ndarray:
    mean, axes = projection
    return (_flat(images) - mean) @ axes


def _near(queries, q_points, pool, p_points, near: float, same: bool) -> list[tuple[int, int, float]]:
    """(query, pool index, mean absolute difference) for every pair within `near` (a pair within
    one set is listed once, lower index first).

    No pair is missed: pixel differences d lie in [-1, 1], so Σd² ≤ Σ|d| = 784·near for a pair
    within `near`, and a projection on orthonormal axes only shortens distances; so every such
    pair is within √(784·near) in PCA space, and only those candidates are compared in full."""
    found, pool_norms = {}, (p_points**2).sum(axis=1)
    bound = queries[0].size * near * (1 + 1e-4) + 1e-6
    for start in range(0, len(queries), CHUNK):
        block = q_points[start : start + CHUNK]
        distances = block @ p_points.T  # in place from here: these blocks are large
        distances *= -2
        distances += pool_norms[None]
        distances += (block**2).sum(axis=1)[:, None]
        rows, others = np.nonzero(distances <= bound)
        for row, other in zip(rows.tolist(), others.tolist()):
            query = start + row
            if same and other <= query:  # itself, or a pair already seen the other way round
                continue
            difference = float(np.abs(queries[query].astype(np.int16) - pool[other].astype(np.int16)).mean() / 255)
            if 0 < difference <= near:  # exact copies are listed apart
                found[(query, other)] = difference
    return sorted(((a, b, d) for (a, b), d in found.items()), key=lambda item: item[2])


def _doubts(probabilities: dict, y_train: np.ndarray, y_test: np.ndarray, doubt: float) -> list[dict]:
    rows = []
    for part, labels in (("train", y_train), ("test", y_test)):
        probs = probabilities[part]
        given = probs[np.arange(len(labels)), labels]
        answer = probs.argmax(axis=1)
        for i in np.flatnonzero(given < doubt):
            rows.append({"set": part, "index": int(i), "label": int(labels[i]), "answer": int(answer[i]),
                         "label_probability": round(float(given[i]), 5),
                         "answer_probability": round(float(probs[i, answer[i]]), 5)})  # fmt: skip
    return sorted(rows, key=lambda row: row["label_probability"])


def _clean_test(probabilities: np.ndarray, labels: np.ndarray, in_training: set[int]) -> dict:
    keep = np.array([i not in in_training for i in range(len(labels))], dtype=bool)
    right = probabilities.argmax(axis=1) == labels
    return {"accuracy": float(right.mean()), "clean_accuracy": float(right[keep].mean()) if keep.any() else None,
            "left_out": int((~keep).sum())}  # fmt: skip


__all__ = ["check", "DataCheck", "training_and_test"]
