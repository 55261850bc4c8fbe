"""Finding the garment: on plain, shaded, coloured and textured backgrounds, and apart from a wearer."""

import numpy as np
import pytest

from provador.core import photos, segmentation


def ellipse(height: int, width: int, centre=(0.5, 0.5), radii=(0.3, 0.2)) -> np.ndarray:
    rows, cols = np.mgrid[:height, :width]
    return ((rows / height - centre[0]) / radii[0]) ** 2 + ((cols / width - centre[1]) / radii[1]) ** 2 <= 1


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def textured_sheet(height=120, width=160, seed=0) -> np.ndarray:
    """A patterned bed sheet: red and pink stripes with noise."""
    rng = np.random.default_rng(seed)
    stripes = (np.arange(width) // 6 % 2).astype(bool)[None, :].repeat(height, axis=0)
    sheet = np.where(stripes[..., None], [200, 40, 60], [230, 150, 170]).astype(np.int16)
    return np.clip(sheet + rng.integers(-20, 21, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("background", ["plain", "shaded", "coloured", "textured"])
def test_the_garment_is_found_on_any_background(background):
    height, width = 120, 160
    truth = ellipse(height, width)
    if background == "plain":
        photo = np.full((height, width, 3), 245, np.uint8)
    elif background == "shaded":  # a studio backdrop: light in the middle, grey at the corners
        rows, cols = np.mgrid[:height, :width]
        level = 250 - 70 * np.hypot(rows / height - 0.5, cols / width - 0.5)
        photo = np.repeat(level[..., None], 3, axis=2).astype(np.uint8)
    elif background == "coloured":
        photo = np.full((height, width, 3), (40, 160, 90), np.uint8)
    else:
        photo = textured_sheet(height, width)
    cloth = np.random.default_rng(1).integers(20, 60, (height, width, 3))  # dark blue denim
    cloth[..., 2] += 90
    photo[truth] = cloth[truth]
    mask, found = segmentation.garment_mask(photo)
    assert found
    assert iou(mask, truth) > 0.9


def test_thin_straps_on_a_plain_backdrop_are_kept():
    photo = np.full((120, 160, 3), 250, np.uint8)
    photo[60:110, 40:120] = (30, 30, 30)  # a bag
    photo[20:60, 50:52] = photo[20:60, 108:110] = photo[20:22, 50:110] = (30, 30, 30)  # its 2-pixel handle
    mask, found = segmentation.garment_mask(photo)
    assert found and mask[30, 50] and mask[20, 80] and mask[80, 80]
    assert not mask[40, 80]  # the gap inside the handle is background


def test_a_blank_photo_has_no_garment():
    mask, found = segmentation.garment_mask(np.full((100, 100, 3), 200, np.uint8))
    assert not found and mask.all()
    prepared = photos.prepare(photos_png(np.full((100, 100, 3), 200, np.uint8)))
    assert not prepared.garment_found


def photos_png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_wearers_head_and_arms_are_removed():
    """A model on white: a face and neck above a blue shirt, bare arms beside it."""
    skin = (224, 172, 140)
    photo = np.full((160, 120, 3), 255, np.uint8)
    photo[10:40, 48:72] = skin  # face
    photo[5:14, 46:74] = (40, 30, 20)  # hair
    photo[40:50, 54:66] = skin  # neck
    photo[50:130, 35:85] = (40, 60, 150)  # shirt
    photo[55:120, 25:35] = photo[55:120, 85:95] = skin  # arms
    mask, found = segmentation.garment_mask(photo)
    assert found and mask[20, 60] and mask[8, 60]  # the whole person, at first
    garment = segmentation.without_wearer(photo, mask)
    rows, cols = np.nonzero(garment)
    assert rows.min() >= 40 and rows.max() >= 129  # no head or hair
    assert cols.min() >= 34 and cols.max() <= 85  # no arms (the blur of the edges aside)
    assert garment[50:130, 35:85].mean() > 0.95  # the shirt is all there


def test_a_skin_coloured_garment_is_not_removed():
    photo = np.full((160, 120, 3), 255, np.uint8)
    photo[30:140, 30:90] = (224, 172, 140)  # a beige dress
    mask, _ = segmentation.garment_mask(photo)
    assert segmentation.without_wearer(photo, mask).sum() == mask.sum()


@pytest.mark.parametrize("background", ["coloured", "textured"])
def test_prepared_photos_are_light_garments_on_black(background):
    """Whatever the background, the model sees what Fashion-MNIST looks like: the garment, centred
    and filling the long edge, bright where the cloth is dark, on black."""
    from tests.core.test_photos import check_garment

    photo = textured_sheet(300, 400) if background == "textured" else np.full((300, 400, 3), (200, 30, 40), np.uint8)
    photo[60:240, 150:250] = (30, 30, 60)  # a dark garment, off-centre on a 400×300 photo
    prepared = photos.prepare(photos_png(photo))
    assert prepared.garment_found
    check_garment(prepared.pixels)
    assert prepared.pixels.max() >= 200  # dark cloth, negated: bright
