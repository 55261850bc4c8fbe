"""Find the garment in a photo: separate it from the background and, where possible, from a wearer.

Works on a small RGB array (the photo pipeline hands it at most 160 pixels on the long edge).
A plain or studio-shaded backdrop is what a flood fill from the photo's edges reaches; anything
else (a bed, a floor, a sheet) is separated with OpenCV's GrabCut (Rother, Kolmogorov and Blake
2004): colour models of the outer band and of the middle, refined with a graph cut. No model
weights are needed, so nothing is downloaded. Each step's worth on the development photos is in
bench/README.md.
"""

from __future__ import annotations

import cv2
import numpy as np

BORDER = 0.04  # the outer band, this share of the long edge, is taken as background
FLOOD_STEP = 2  # a backdrop's neighbouring pixels differ by at most this much per channel (0-255)
PLAIN_BACKDROP = 0.9  # a backdrop that covers this share of the outer band is plain: no graph cut needed
MIN_AREA, MAX_AREA = 0.02, 0.97  # a mask outside these shares of the photo is no garment
GRABCUT_ITERATIONS = 3
GRABCUT_SIDE = 96  # GrabCut runs on a copy this long: the outline needs no more
TRIM_THRESHOLD = 0.05  # Zalando's: a pixel 5% of the largest intensity distance from the backdrop is garment


def garment_mask(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """A boolean mask of the garment in `rgb` (H, W, 3 uint8), and whether one was found.

    The photo's outer band is the background's colour sample (people photograph a garment in the
    middle of the frame). On a plain backdrop the garment is what differs from it; on any other
    (a bed, a floor, a patterned sheet) GrabCut separates the two.
    """
    height, width = rgb.shape[:2]
    band = max(2, round(BORDER * max(height, width)))
    backdrop = backdrop_from_border(rgb)
    border = np.zeros((height, width), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    if backdrop[border].mean() > PLAIN_BACKDROP:
        # A backdrop that fills from the edges (a product photo, even with a studio's gradient):
        # the garment is what it does not reach, less what has the backdrop's colour (the gap
        # inside a bag's handle), by Zalando's 5% test. Keeps thin straps that a graph cut would
        # smooth away.
        colour = np.median(rgb[border], axis=0)
        distinct = np.abs(rgb.astype(np.int16) - colour).max(axis=2) > TRIM_THRESHOLD * 255
        mask = _main_parts(~backdrop & distinct, keep=0.05, open_first=False)
    else:
        # A bed, a floor, a patterned sheet: GrabCut learns the colours of the outer band and of
        # the middle, and cuts between them.
        seeds = np.where(backdrop, cv2.GC_PR_BGD, cv2.GC_PR_FGD).astype(np.uint8)
        seeds[border] = cv2.GC_BGD
        if not (seeds == cv2.GC_PR_FGD).any():
            return np.ones((height, width), bool), False
        mask = _main_parts(_grabcut(rgb, seeds))
    if not MIN_AREA <= mask.mean() <= MAX_AREA:
        return np.ones((height, width), bool), False
    return mask, True


def _grabcut(rgb: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """GrabCut's garment pixels, computed at most GRABCUT_SIDE pixels on the long edge (its cost
    grows with the pixel count: 76 ms at 160 pixels, 25 at 96) and scaled back."""
    height, width = rgb.shape[:2]
    scale = min(1.0, GRABCUT_SIDE / max(height, width))
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, small_size, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    labels = cv2.resize(seeds, small_size, interpolation=cv2.INTER_NEAREST) if scale < 1 else seeds.copy()
    background_model, garment_model = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut's k-means starts at random: the same photo always gives the same mask
    cv2.grabCut(small, labels, None, background_model, garment_model, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    garment = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8) * 255
    if scale < 1:
        garment = cv2.resize(garment, (width, height), interpolation=cv2.INTER_LINEAR)
    return garment > 127


def backdrop_from_border(rgb: np.ndarray, step: int = 8) -> np.ndarray:
    """The pixels a flood fill reaches from the photo's edges, moving only between neighbours
    that differ by at most FLOOD_STEP per channel: a plain or smoothly shaded backdrop, not cloth."""
    height, width = rgb.shape[:2]
    image = rgb.copy()  # floodFill wants a writable image, though with MASK_ONLY it leaves it alone
    reached = np.zeros((height + 2, width + 2), np.uint8)  # floodFill's mask has a 1-pixel frame
    seeds = [(x, y) for x in range(0, width, step) for y in (0, height - 1)]
    seeds += [(x, y) for y in range(0, height, step) for x in (0, width - 1)]
    tolerance = (FLOOD_STEP,) * 3
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    for x, y in seeds:
        if not reached[y + 1, x + 1]:
            cv2.floodFill(image, reached, (x, y), 0, tolerance, tolerance, flags)
    return reached[1:-1, 1:-1].astype(bool)


def _main_parts(mask: np.ndarray, keep: float = 0.2, open_first: bool = True) -> np.ndarray:
    """The largest connected part and any at least `keep` of its size (a pair of shoes is two),
    after an opening that removes specks and threads of background (`open_first`)."""
    opened = mask.astype(np.uint8)
    if open_first:
        opened = cv2.morphologyEx(opened, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    wanted = 1 + np.nonzero(areas >= keep * areas.max())[0]
    return np.isin(labels, wanted)


def skin(rgb: np.ndarray) -> np.ndarray:
    """Skin-coloured pixels, by the classic YCrCb box (Chai and Ngan 1999)."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycrcb[..., 0], ycrcb[..., 1], ycrcb[..., 2]
    return (cr >= 138) & (cr <= 173) & (cb >= 77) & (cb <= 127) & (y >= 60)


def without_wearer(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mask less a wearer's head and skin, when the photo shows a person.

    A person is recognised by an upright mask with a face: a small skin-coloured region near its
    top. Then everything above the face's lowest row (hair included) goes, and so does skin
    elsewhere (arms, legs). Without a face nothing is removed: skin-coloured cloth, wood and leather are common
    in photos of garments alone, and removing them cost more than it gained (bench/README.md).
    """
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    top, height, width = rows.min(), rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    if height < 1.3 * width:
        return mask  # a standing person is taller than wide; a bag, a shoe, a garment laid flat may not be
    skin_in_mask = skin(rgb) & mask
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(skin_in_mask.astype(np.uint8), connectivity=8)
    chin = None
    for index in range(1, count):
        area, centre_row = stats[index, cv2.CC_STAT_AREA], centroids[index][1]
        # A face: small, narrower than the shoulders below it, in the top quarter.
        face_sized = 0.004 * mask.size <= area <= 0.15 * mask.sum() and stats[index, cv2.CC_STAT_WIDTH] <= 0.5 * width
        if face_sized and centre_row < top + 0.25 * height:
            bottom = stats[index, cv2.CC_STAT_TOP] + stats[index, cv2.CC_STAT_HEIGHT]
            chin = bottom if chin is None else max(chin, bottom)
    if chin is None:
        return mask
    result = mask & ~skin_in_mask
    result[:chin] = False
    cleaned = _main_parts(result)
    return cleaned if cleaned.sum() >= 0.3 * mask.sum() else mask
