"""The photo pipeline on the project's real development photos (`shared/photos`, beside the repository)."""

from pathlib import Path

import numpy as np
import pytest

from provador.core import photos

PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "photos"
pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="the development photos (../shared/photos) are not here")


def corners(pixels: np.ndarray) -> float:
    """The median brightness of the four 3×3 corners: background, unless the garment fills them."""
    return float(
        np.median([pixels[:3, :3].mean(), pixels[:3, -3:].mean(), pixels[-3:, :3].mean(), pixels[-3:, -3:].mean()])
    )


def test_photos_on_beds_and_floors_become_garments_on_black():
    """People's own photos: a patterned or coloured background must not reach the model."""
    files = sorted((PHOTOS / "wild").rglob("*.jpg"))
    assert len(files) > 100
    prepared = [photos.prepare(f) for f in files]
    trimmed_only = [photos.prepare(f, steps=photos.Steps(segment=False)) for f in files]
    black = np.mean([corners(p.pixels) < 10 for p in prepared])
    black_before = np.mean([corners(p.pixels) < 10 for p in trimmed_only])
    assert np.mean([p.garment_found for p in prepared]) > 0.95
    assert black > 0.85 and black_before < 0.1  # measured: 0.91 and 0.01


def height_to_width(pixels: np.ndarray) -> float:
    rows, cols = np.nonzero(pixels > 40)
    return (np.ptp(rows) + 1) / (np.ptp(cols) + 1)


def test_a_wearers_head_leaves_worn_tops():
    """Catalogue tops worn by a model: without the wearer the shape is a top's, not a person's."""
    files = [
        f for c in ("T-shirt-top", "Shirt", "Pullover") for f in sorted((PHOTOS / "catalog-small" / c).glob("*.jpg"))
    ]
    with_wearer = [height_to_width(photos.prepare(f, steps=photos.Steps(wearer=False)).pixels) for f in files]
    without = [height_to_width(photos.prepare(f).pixels) for f in files]
    assert np.median(with_wearer) > 1.4 and np.median(without) < 1.25


def test_product_shots_keep_their_shape():
    """Shoes and bags on white: the garment fills the long edge, centred, on black."""
    files = sorted((PHOTOS / "catalog-large" / "Sandal").glob("*.jpg"))[:10]
    files += sorted((PHOTOS / "catalog-large" / "Bag").glob("*.jpg"))[:10]
    dark_corners = []
    for f in files:
        pixels = photos.prepare(f).pixels
        rows, cols = np.nonzero(pixels > 0)
        assert max(np.ptp(rows), np.ptp(cols)) + 1 >= 27, f
        assert abs((rows.min() + rows.max()) / 2 - 13.5) <= 1.5 and abs((cols.min() + cols.max()) / 2 - 13.5) <= 1.5, f
        dark_corners.append(corners(pixels) < 10)
    assert np.mean(dark_corners) >= 0.9  # a boxy bag may fill its corners
