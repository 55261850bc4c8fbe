"""The photo pipeline: every format and mode, and dataset images disguised as product photos."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from provador.base.errors import InputError
from provador.core import photos


def garment(size=(300, 200), colour=(40, 40, 160), background="white", mode="RGB") -> Image.Image:
    """A dark rectangle 'garment' on a light background, off-centre."""
    image = Image.new("RGB", size, background)
    image.paste(Image.new("RGB", (size[0] // 4, size[1] // 2), colour), (size[0] // 5, size[1] // 4))
    return image.convert(mode) if mode != "RGB" else image


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header that declares a huge image, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 10))
        + chunk(b"IEND", b"")
    )


def check_garment(pixels: np.ndarray) -> None:
    """Light garment on black, filling the long edge, centred: like Fashion-MNIST."""
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    rows, cols = np.nonzero(pixels > 100)
    assert rows.max() - rows.min() + 1 >= 27 or cols.max() - cols.min() + 1 >= 27
    outside = np.ones_like(pixels, dtype=bool)
    outside[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = False
    assert outside.any() and pixels[outside].mean() < 10  # the negated background is black
    assert abs((cols.min() + cols.max()) / 2 - 13.5) <= 1.5 and abs((rows.min() + rows.max()) / 2 - 13.5) <= 1.5


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_every_format(fmt):
    check_garment(photos.prepare(encode(garment(), fmt)).pixels)


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "CMYK", "LA"])
def test_every_mode(mode):
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "LA" else "PNG")
    check_garment(photos.prepare(encode(garment(mode=mode), fmt)).pixels)


def test_transparency_is_composited_on_white():
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))  # transparent black: must read as white
    image.paste(Image.new("RGBA", (80, 120), (20, 20, 20, 255)), (50, 40))
    check_garment(photos.prepare(encode(image, "PNG")).pixels)


def test_sixteen_bit_images():
    values = np.full((120, 100), 60000, np.uint16)
    values[30:90, 30:70] = 3000
    check_garment(photos.prepare(encode(Image.fromarray(values), "PNG")).pixels)


def test_first_frame_of_an_animated_gif():
    first, second = garment(), Image.new("RGB", (300, 200), "black")
    data = encode(first, "GIF", save_all=True, append_images=[second])
    check_garment(photos.prepare(data).pixels)


def test_exif_orientation_is_applied():
    tall = Image.new("RGB", (100, 300), "white")
    tall.paste(Image.new("RGB", (40, 200), "black"), (30, 50))
    # Stored sideways with the EXIF tag that says "rotate 90°": the result must be tall, not wide.
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(tall.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif)
    pixels = photos.prepare(data).pixels
    rows, cols = np.nonzero(pixels > 100)
    assert rows.max() - rows.min() > cols.max() - cols.min()


def test_dataset_images_are_used_as_they_are():
    image = np.zeros((28, 28), np.uint8)
    image[5:20, 8:16] = 200
    prepared = photos.prepare(encode(Image.fromarray(image), "PNG"))
    assert prepared.as_is
    np.testing.assert_array_equal(prepared.pixels, image)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"hello, not an image", "not an image Pillow can read"),
        (encode(garment(), "PNG")[:300], "damaged or truncated"),
        (png_header_only(10_000, 10_000), "megapixels"),  # a decompression bomb: 100 MP declared
    ],
)  # fmt: skip
def test_bad_input_is_explained(data, message):
    with pytest.raises(InputError, match=message):
        photos.prepare(data, name="upload.png")


def test_a_dataset_image_disguised_as_a_product_photo_comes_back(real_data, tmp_path):
    """Upscaled, inverted onto white, off-centre, JPEG: close to the original, same class."""
    from provador.core.datasets import load_dataset
    from provador.work.inference import Predictor
    from provador.work.training import train

    data = load_dataset()
    run = train(
        "seed", runs_dir=tmp_path, quiet=True,
        overrides={"data.max_train": 20000, "training.epochs": 2, "training.optimizer": "adam",
                   "training.learning_rate": 0.002, "training.batch_size": 128},
    )  # fmt: skip
    predictor = Predictor(run)
    originals = data.x_test[:40]
    disguised = []
    for k, image in enumerate(originals):
        photo = Image.new("RGB", (640, 480), (250, 250, 250))
        big = Image.fromarray(255 - image).resize((336, 336), Image.Resampling.BICUBIC)
        photo.paste(big.convert("RGB"), (40 + 5 * k, 100))
        disguised.append(predictor.prepare(encode(photo, "JPEG", quality=90)))
    disguised = np.stack(disguised)
    correlation = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(originals, disguised)]
    assert np.median(correlation) > 0.8 and min(correlation) > 0.5
    same = np.argmax(predictor.predict_probabilities(originals), 1) == np.argmax(
        predictor.predict_probabilities(disguised), 1
    )
    assert same.mean() >= 0.9
