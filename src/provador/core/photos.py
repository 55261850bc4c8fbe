"""Turn any photo of a garment into a Fashion-MNIST-like 28×28 image.

Fashion-MNIST was made from product photos on white (Xiao, Rasul and Vollgraf 2017, §2): trim
the edges close to the background, resize the longest edge to 28, sharpen, pad the short edge to
28 with the garment centred, negate, 8-bit grayscale. People's photos are not product photos, so
before those steps the garment is found (`provador.core.segmentation`): on a plain or shaded backdrop,
what the backdrop does not reach from the edges; on a bed, a floor or a sheet, a GrabCut cut; when
a face shows, the wearer's head and skin are dropped. Whatever the background was, it becomes
black, and the garment is its negated grey (dark cloth is bright, as in the dataset).

Before that, any common file is brought to plain RGB: EXIF orientation applied, transparency
composited on white, palette, CMYK and 16-bit images converted, the first frame of an animation
taken; a large JPEG is decoded at a reduced size (Pillow's draft mode), and the search for the
garment runs on a copy of at most WORK_SIDE pixels. Images already in dataset form (28×28, dark
background) are used as they are.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from provador.base.errors import DamagedImage, ImageTooLarge, InputError, NotAnImage
from provador.base.i18n import _
from provador.core import segmentation

SIZE = 28
WORK_SIDE = 160  # photos are segmented at this long edge: enough for an outline, and fast
MAX_PIXELS = 40_000_000  # decompression bombs: Pillow only warns below 2× its own limit
SHRINK_ABOVE = 4_000_000  # a decoded image over this many pixels is box-reduced at once, in its own mode
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")  # what a folder's images end with


@dataclass(frozen=True)
class PreparedImage:
    """The 28×28 uint8 image the model sees, and how it was made."""

    pixels: np.ndarray
    as_is: bool  # True when the input was already in dataset form
    original_size: tuple[int, int]
    # False when no garment stood out from the background: the model sees the whole photo,
    # and its answer is flagged as unsure.
    garment_found: bool = True


def open_image(
    source: str | Path | bytes, name: str | None = None, draft_side: int | None = None, with_size: bool = False
):
    """Open and fully decode an image file or bytes, with clear errors for everything that can go wrong.

    `draft_side` lets a JPEG decode at 1/2, 1/4 or 1/8 of its size when both sides stay at least
    that long (Pillow's `draft`): a 12-megapixel photo then decodes in a few milliseconds.
    `with_size` also returns the size the file declares, before any such reduction.
    """
    name = name or (str(source) if not isinstance(source, bytes) else "upload")
    if isinstance(source, bytes):
        if not source:
            raise InputError(
                _("{name} is empty: expected the bytes of an image file (JPEG, PNG, WebP, …).").format(name=name)
            )
        stream = io.BytesIO(source)
    else:
        if not Path(source).is_file():
            raise InputError(_("Image file {path} does not exist.").format(path=source))
        stream = open(source, "rb")  # noqa: SIM115 (closed below)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            if image.format not in FORMATS:
                raise NotAnImage(
                    _("{name} is a {format} image; expected one of JPEG, PNG, WebP, GIF, BMP or TIFF.").format(
                        name=name, format=image.format
                    )
                )
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageTooLarge(
                    _("{name} is {width}×{height} = {megapixels} megapixels; the limit is {limit}. Resize it first.")
                    .format(name=name, width=width, height=height, megapixels=f"{width * height / 1e6:.0f}",
                            limit=f"{MAX_PIXELS / 1e6:.0f}")
                )  # fmt: skip
            image.seek(0)  # the first frame of a GIF or multi-page TIFF
            if draft_side and image.format in ("JPEG", "MPO"):
                image.draft(image.mode, (draft_side, draft_side))
            image.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(
            _("{name} declares too many pixels (over {limit} megapixels).").format(
                name=name, limit=f"{MAX_PIXELS / 1e6:.0f}"
            )
        ) from None
    except UnidentifiedImageError:
        raise NotAnImage(
            _("{name} is not an image Pillow can read: expected JPEG, PNG, WebP, GIF, BMP or TIFF.").format(name=name)
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DamagedImage(
            _("{name} is a damaged or truncated image ({reason}).").format(name=name, reason=exc)
        ) from None
    finally:
        if not isinstance(source, bytes):
            stream.close()
    return (image, (width, height)) if with_size else image


def declared_pixels(data: bytes) -> int | None:
    """Width × height as the file's header says, without decoding it; None when unreadable
    (`prepare` then says what is wrong). A PNG's size is read straight from its IHDR chunk: the
    server asks this for every small upload, and opening it with Pillow would cost 45 µs."""
    if data[:8] == _PNG_SIGNATURE and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big") * int.from_bytes(data[20:24], "big")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return image.width * image.height
    except Exception:  # noqa: BLE001 (any unreadable header: prepare reports it properly)
        return None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _shrunk(image: Image.Image, side: int) -> Image.Image:
    """A big decoded image (a PNG, BMP or TIFF, which cannot decode at reduced size as a JPEG can)
    box-reduced to about `side` on its long edge before any conversion: converting a 40-megapixel
    image to RGB first would take 160 MB more, and float copies of it ten times that."""
    factor = max(image.size) // side
    if image.width * image.height <= SHRINK_ABOVE or factor < 2:
        return image
    if image.mode == "1":
        image = image.convert("L")
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode.startswith("I;16"):
        image = image.convert("I")
    if image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return image
    reduced = image.reduce(factor)
    reduced.info = dict(image.info)  # EXIF orientation still applies
    return reduced


def to_rgb(image: Image.Image) -> Image.Image:
    """Plain 8-bit RGB: orientation applied, transparency on white, 16-bit and CMYK converted."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        image = Image.fromarray(scaled.round().astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def in_dataset_form(image: Image.Image) -> bool:
    """28×28 grayscale-looking with a dark border: already like a Fashion-MNIST image."""
    if image.size != (SIZE, SIZE):
        return False
    return _dark_border(np.asarray(image.convert("L")))


def _dark_border(gray: np.ndarray) -> bool:
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(border.mean()) < 64


def trim(image: Image.Image) -> Image.Image:
    """Crop away the edges whose colour is close to the corners' (the background)."""
    pixels = np.asarray(image, dtype=np.int16)
    corners = np.stack([pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]])
    background = np.median(corners, axis=0)
    distance = np.abs(pixels - background).max(axis=2)
    rows, cols = np.nonzero(distance > segmentation.TRIM_THRESHOLD * 255)
    if len(rows) == 0:
        return image  # a blank image: nothing to trim to
    return image.crop((cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))


@dataclass(frozen=True)
class Steps:
    """The pipeline's optional steps, each on by default; `bench/photos.py --without` measures
    what each one is worth on a labelled photo folder."""

    segment: bool = True  # find the garment on any background (flood fill or GrabCut), else Zalando's trim alone
    wearer: bool = True  # when a face shows, drop the wearer's head, hair and skin


ALL_STEPS = Steps()


def prepare(
    source: str | Path | bytes | Image.Image, name: str | None = None, steps: Steps = ALL_STEPS
) -> PreparedImage:
    """The 28×28 uint8 image the model should see for this photo or file."""
    if isinstance(source, Image.Image):
        image, original_size = source, source.size
    else:
        image, original_size = open_image(source, name, draft_side=2 * WORK_SIDE, with_size=True)
    image = _shrunk(image, 2 * WORK_SIDE)
    if image.mode == "L" and image.size == (SIZE, SIZE) and "exif" not in image.info:
        # The common case of a dataset image sent back (tests, the web page's samples, benchmarks):
        # nothing to convert, so skip the colour conversions (half the time of a small PNG).
        gray = np.asarray(image, dtype=np.uint8)
        if _dark_border(gray):
            return PreparedImage(gray, True, original_size)
    rgb = to_rgb(image)
    if in_dataset_form(rgb):
        return PreparedImage(np.asarray(rgb.convert("L"), dtype=np.uint8), True, original_size)
    if not steps.segment:
        return PreparedImage(_zalando_steps(rgb), False, original_size)
    if max(rgb.size) > WORK_SIDE:
        # Segmentation needs only the outline: work on a small copy (the 28×28 result loses nothing).
        rgb = rgb.copy()
        rgb.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    pixels = np.asarray(rgb, dtype=np.uint8)
    mask, found = segmentation.garment_mask(pixels)
    if found and steps.wearer:
        mask = segmentation.without_wearer(pixels, mask)
    # Fashion-MNIST's garments were photographed on white and negated: dark cloth is bright.
    garment = 255.0 - np.asarray(rgb.convert("L"), dtype=np.float32)
    garment[~mask] = 0.0
    rows, cols = np.nonzero(mask)
    garment = garment[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    cropped = Image.fromarray(garment.round().clip(0, 255).astype(np.uint8), "L")
    return PreparedImage(np.asarray(_fit_to_square(cropped, 0), dtype=np.uint8), False, original_size, found)


def _fit_to_square(cropped: Image.Image, background) -> Image.Image:
    """Zalando's last steps: longest edge to 28, sharpen, pad the short edge with the garment centred."""
    scale = SIZE / max(cropped.size)
    resized = cropped.resize(
        (max(1, round(cropped.width * scale)), max(1, round(cropped.height * scale))), Image.Resampling.LANCZOS
    )
    sharpened = resized.filter(ImageFilter.UnsharpMask(radius=0.5, percent=150, threshold=0))
    square = Image.new(cropped.mode, (SIZE, SIZE), background)
    square.paste(sharpened, ((SIZE - sharpened.width) // 2, (SIZE - sharpened.height) // 2))
    return square


def _zalando_steps(rgb: Image.Image) -> np.ndarray:
    """The paper's pipeline alone (for a product photo on a plain background): trim by the corner
    colour, fit to 28×28, negate when the background is light, grayscale."""
    corners = np.asarray(rgb, dtype=np.float64)[[0, 0, -1, -1], [0, -1, 0, -1]]
    background = tuple(int(v) for v in np.median(corners, axis=0))
    square = _fit_to_square(trim(rgb), background)
    light_background = corners.mean() >= 128
    return np.asarray(ImageOps.grayscale(ImageOps.invert(square) if light_background else square), dtype=np.uint8)


def to_png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), "L").save(buffer, format="PNG")
    return buffer.getvalue()
