"""Find, verify, download and load Fashion-MNIST (or any dataset in IDX format).

Where the files are looked for, in order: an explicit folder (`--data-dir`),
`$PROVADOR_DATA_DIR`, the user cache, the folder of Debian's
`dataset-fashion-mnist` package, then a download from the official mirror into
the cache. Contents are checked against SHA-256 hashes of the decompressed
files, so any mirror's gzip wrapper is accepted.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from provador.base.errors import DataFormatError, DataHashError, DataNotFoundError
from provador.base.i18n import N_, _, number
from provador.core import idx, splits

if TYPE_CHECKING:
    from provador.core.recipes import Recipe

SPLIT_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# SHA-256 of the decompressed files, as published by Zalando Research.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

# Sizes of the decompressed files: a download is cut off past them (a gzip file is never larger
# than what it holds plus a little), so an endless stream cannot fill the disk.
FASHION_MNIST_BYTES = {
    "train-images-idx3-ubyte": 47_040_016, "train-labels-idx1-ubyte": 60_008,
    "t10k-images-idx3-ubyte": 7_840_016, "t10k-labels-idx1-ubyte": 10_008,
}  # fmt: skip

# The HTTPS mirror Keras' own `fashion_mnist.load_data()` uses (Zalando's S3 website endpoint
# serves plain HTTP only); every file is checked against Zalando's published SHA-256 anyway.
# PROVADOR_MIRROR overrides it: HTTPS, or plain HTTP on this machine only (a local copy, tests).
FASHION_MNIST_MIRROR = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
DOWNLOAD_MIN_RATE = 20_000  # bytes/s: a mirror slower than this on average is given up
DOWNLOAD_GRACE_SECONDS = 120
MAX_CLASSES = 100  # labels are class numbers 0..MAX_CLASSES-1: each class costs a row and a column in every plot
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class DatasetKind:
    """What provador knows of one `data.dataset` name: a new dataset in the IDX format is an entry
    in DATASET_KINDS (and its name in `choices.DatasetName`, which the recipe schema checks)."""

    name: str
    classes: tuple[str, ...] | None = None  # fixed class names; None: classes.txt beside the files, or numbers
    sha256: dict[str, str] | None = None  # the published hashes of its files; None: nothing to check against
    own_places: bool = False  # also looked for in the user cache and SYSTEM_DIR (Debian's package)
    downloadable: bool = False  # fetched from FASHION_MNIST_MIRROR (or PROVADOR_MIRROR) as a last resort
    needs_folder: bool = False  # only ever read where the user points (--data-dir, PROVADOR_DATA_DIR)


DATASET_KINDS = {
    kind.name: kind
    for kind in (
        DatasetKind("fashion-mnist", FASHION_MNIST_CLASSES, FASHION_MNIST_SHA256, own_places=True, downloadable=True),
        DatasetKind("idx", needs_folder=True),  # your own IDX files
    )
}


def user_cache() -> Path:
    """provador's folder in the user's cache (honours XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "provador"


def cache_dir() -> Path:
    """The user cache folder for downloaded data."""
    return user_cache() / "fashion-mnist"


def downloads_allowed() -> bool:
    """Downloads are on unless PROVADOR_OFFLINE is set to anything but an empty or false value
    (`1`, `true`, `yes`, `on` all mean offline; `0`, `false`, `no`, `off` do not)."""
    return os.environ.get("PROVADOR_OFFLINE", "").strip().lower() in ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class DataSource:
    """Where a dataset's four files were found and what their contents hash to."""

    name: str
    directory: Path
    files: dict[str, Path]
    sha256: dict[str, str]
    verified: bool
    how_found: str

    def to_dict(self) -> dict:
        return {
            "dataset": self.name,
            "directory": str(self.directory),
            "found_via": self.how_found,
            "files": {key: str(path) for key, path in self.files.items()},
            "sha256": dict(self.sha256),
            "hashes_match_published": self.verified,
        }


@dataclass(frozen=True)
class Dataset:
    """Train/validation/test splits as uint8 images and integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: DataSource
    split: dict = field(default_factory=dict)

    def splits(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {
            "train": (self.x_train, self.y_train),
            "valid": (self.x_valid, self.y_valid),
            "test": (self.x_test, self.y_test),
        }

    def summary(self) -> dict:
        """Shapes, dtypes and images per class of each split (what `data info` prints)."""
        out = {"source": self.source.to_dict(), "split": dict(self.split), "classes": list(self.class_names)}
        for split_name, (x, y) in self.splits().items():
            counts = np.bincount(y, minlength=len(self.class_names))
            out[split_name] = {
                "images_shape": list(x.shape),
                "images_dtype": str(x.dtype),
                "labels_shape": list(y.shape),
                "labels_dtype": str(y.dtype),
                "per_class": {name: int(n) for name, n in zip(self.class_names, counts)},
            }
        return out


def _file_in(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def candidate_dirs(data_dir: str | Path | None = None, fashion_mnist: bool = True) -> list[tuple[str, Path]]:
    """The folders searched, in order, each with how it was chosen.

    The cache and Debian's folder hold Fashion-MNIST only (`DatasetKind.own_places`): they are
    left out for other datasets.
    """
    places = []
    if data_dir is not None:
        places.append((N_("--data-dir"), Path(data_dir).expanduser()))
    if os.environ.get("PROVADOR_DATA_DIR"):
        places.append(("$PROVADOR_DATA_DIR", Path(os.environ["PROVADOR_DATA_DIR"]).expanduser()))
    if fashion_mnist:
        places.append((N_("user cache"), cache_dir()))
        places.append((N_("Debian package dataset-fashion-mnist"), SYSTEM_DIR))
    return places


def locate(
    name: str = "fashion-mnist",
    data_dir: str | Path | None = None,
    allow_download: bool | None = None,
    progress: bool = True,
    include_test: bool = True,
) -> DataSource:
    """Find the four files, verify them, downloading into the cache as a last resort.

    `include_test=False` looks for, hashes and reads the two training files only: a
    hyperparameter search proves it never touched the test set by working without it.
    """
    if name not in DATASET_KINDS:
        raise DataNotFoundError(
            _("Expected dataset to be one of {names}. Received: {value!r}").format(
                names=", ".join(DATASET_KINDS), value=name
            )
        )
    kind = DATASET_KINDS[name]
    if kind.needs_folder and data_dir is None and not os.environ.get("PROVADOR_DATA_DIR"):
        raise DataNotFoundError(
            _(
                "The `idx` dataset reads your own IDX files: pass --data-dir DIR (or set PROVADOR_DATA_DIR) to a "
                "folder holding {files} (or .gz)."
            ).format(files=", ".join(SPLIT_FILES.values()))
        )
    places = candidate_dirs(data_dir, fashion_mnist=kind.own_places)
    wanted = {key: stem for key, stem in SPLIT_FILES.items() if include_test or key.startswith("train")}
    tried = []
    for how, directory in places:
        files = {key: _file_in(directory, stem) for key, stem in wanted.items()}
        if all(files.values()):
            return _verified_source(name, directory, files, how)
        missing = [wanted[k] for k, p in files.items() if p is None]
        if how in ("--data-dir", "$PROVADOR_DATA_DIR"):
            # A folder the user named: using data from another place instead would be a surprise.
            what = (
                _("does not exist") if not directory.is_dir() else _("lacks {files}").format(files=", ".join(missing))
            )
            raise DataNotFoundError(
                _("{folder} ({how}) {what}. Expected a folder with {expected} (or .gz); fix the path, or leave "
                  "out {how} to use the Fashion-MNIST that provador finds by itself.").format(
                    folder=directory, how=how, what=what, expected=", ".join(wanted.values()))
            )  # fmt: skip
        tried.append("  - " + _("{folder} ({how}): missing {files}").format(
            folder=directory, how=_(how), files=", ".join(missing)))  # fmt: skip
    if allow_download is None:
        allow_download = downloads_allowed()
    if kind.downloadable and allow_download:
        try:
            directory = download(cache_dir(), progress=progress)
        except OSError as exc:
            tried.append(
                "  - " + _("{mirror} (download): failed, {reason}").format(mirror=FASHION_MNIST_MIRROR, reason=exc)
            )
        else:
            files = {key: _file_in(directory, stem) for key, stem in wanted.items()}
            return _verified_source(name, directory, files, N_("downloaded from the official mirror"))
    elif kind.downloadable:
        tried.append("  - " + _("download skipped (PROVADOR_OFFLINE is set)"))
    raise DataNotFoundError(
        _("Could not find the {name} IDX files. Looked in:").format(name=name) + "\n" + "\n".join(tried) + "\n"
        + _("Fix it in one of two ways:") + "\n  - "
        + _("install Debian's package: sudo apt-get install dataset-fashion-mnist") + "\n  - "
        + _("or point provador at a folder with the four files: --data-dir DIR (or PROVADOR_DATA_DIR=DIR)")
    )  # fmt: skip


def _verified_source(name: str, directory: Path, files: dict, how: str) -> DataSource:
    hashes = {key: _load_file(str(path), path.stat().st_mtime_ns)[0] for key, path in files.items()}
    verified = False
    published = DATASET_KINDS[name].sha256
    if published:
        for key, digest in hashes.items():
            expected = published[SPLIT_FILES[key]]
            if digest != expected:
                raise DataHashError(
                    _(
                        "{path} does not match the published Fashion-MNIST content (expected SHA-256 {expected}…, "
                        "received {received}…). The file is corrupted or is another dataset: delete it and fetch it "
                        "again, or use `--set data.dataset=idx --data-dir DIR` for your own IDX files."
                    ).format(path=files[key], expected=expected[:16], received=digest[:16])
                )
        verified = True
    return DataSource(name, directory, files, hashes, verified, how)


@functools.lru_cache(maxsize=8)
def _load_file(path: str, mtime_ns: int) -> tuple[str, bytes]:
    """Decompress a file once: its content hash and its bytes, cached per (path, mtime)."""
    content = idx.read_bytes(path)
    return hashlib.sha256(content).hexdigest(), content


def download(
    directory: Path,
    mirror: str | None = None,
    progress: bool = True,
    opener: Callable = urllib.request.urlopen,
) -> Path:
    """Fetch the four .gz files into `directory`, checking each hash before it is kept.

    Each file is written to a temporary name and renamed only once verified, so
    an interrupted or corrupted download never leaves a file that looks complete.
    """
    mirror = mirror or os.environ.get("PROVADOR_MIRROR") or FASHION_MNIST_MIRROR
    if not mirror.endswith("/"):
        mirror += "/"
    _check_mirror(mirror)
    directory.mkdir(parents=True, exist_ok=True)
    for stem, expected in FASHION_MNIST_SHA256.items():
        target = directory / f"{stem}.gz"
        if target.is_file():
            continue
        url = f"{mirror}{stem}.gz"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=directory)
        tmp = Path(tmp_name)
        cap = FASHION_MNIST_BYTES[stem] + 2**20
        deadline = time.monotonic() + DOWNLOAD_GRACE_SECONDS + cap / DOWNLOAD_MIN_RATE
        try:
            with (
                os.fdopen(fd, "wb") as out,
                opener(url, timeout=30) as response,
                _Progress(stem, int(response.headers.get("Content-Length") or 0), progress) as shown,
            ):
                total = shown.total
                if total > cap:
                    raise OSError(_("{url} announces {size} MB; the file is {expected} MB").format(
                        url=url, size=f"{total / 1e6:.1f}", expected=f"{FASHION_MNIST_BYTES[stem] / 1e6:.1f}"))  # fmt: skip
                done = 0
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    done += len(chunk)
                    if done > cap:
                        raise OSError(_("{url} sent more than the file's {expected} MB").format(
                            url=url, expected=f"{FASHION_MNIST_BYTES[stem] / 1e6:.1f}"))  # fmt: skip
                    if time.monotonic() > deadline:
                        raise OSError(_("{url} is too slow (under {rate} KB/s); try again later or another "
                                        "PROVADOR_MIRROR").format(url=url, rate=DOWNLOAD_MIN_RATE // 1000))  # fmt: skip
                    shown.update(len(chunk))
            try:
                digest = idx.content_sha256(tmp)
            except DataFormatError as exc:
                raise OSError(_("{url} sent a damaged file ({reason})").format(url=url, reason=exc)) from None
            if digest != expected:
                raise OSError(_("{url} sent a file whose content hash does not match").format(url=url))
            os.replace(tmp, target)
        except urllib.error.URLError as exc:
            raise OSError(f"{url}: {getattr(exc, 'reason', exc)}") from None
        except TimeoutError:
            raise OSError(_("{url} stopped sending for 30 s").format(url=url)) from None
        finally:
            tmp.unlink(missing_ok=True)
    return directory


def _check_mirror(mirror: str) -> None:
    parts = urllib.parse.urlsplit(mirror)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise OSError(
            _("the mirror {mirror} is not HTTPS; expected an https:// URL (plain http:// only for this machine)").format(
                mirror=mirror)
        )  # fmt: skip


class _Progress:
    """A download's progress: tqdm's bar on a terminal; into a log file or a pipe, one line per
    file and none per chunk (a bar rewritten for every 64 KiB would be hundreds of lines)."""

    def __init__(self, stem: str, total: int, shown: bool):
        self.total, self.bar = total, None
        if not shown:
            return
        size = f" ({number(total / 1e6, 1)} MB)" if total else ""
        label = _("Downloading {file}").format(file=f"{stem}.gz")
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total or None, desc=label, unit="B", unit_scale=True, file=sys.stderr, leave=True)
        else:
            print(label + size, file=sys.stderr, flush=True)

    def update(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()


def _read_arrays(files: dict[str, Path]) -> dict[str, np.ndarray]:
    arrays = {}
    for key, path in files.items():
        content = _load_file(str(path), path.stat().st_mtime_ns)[1]
        arrays[key] = idx.parse(content, source=str(path))
    return arrays


def _check_shapes(arrays: dict[str, np.ndarray], source: DataSource) -> None:
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataFormatError(
                _(
                    "{folder}: expected {part} images of shape (N, height, width) and labels of shape (N,), "
                    "received {images} and {labels}."
                ).format(folder=source.directory, part=part, images=images.shape, labels=labels.shape)
            )
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataFormatError(
            _("{folder}: train and test images differ in size ({train} vs {test}).").format(
                folder=source.directory, train=arrays["train_images"].shape[1:], test=arrays["test_images"].shape[1:]
            )
        )


def _check_labels(arrays: dict[str, np.ndarray], source: DataSource) -> None:
    """Labels are small non-negative whole numbers: they size the model's output and every plot."""
    for key in ("train_labels", "test_labels"):
        labels = arrays[key]
        if not len(labels):
            continue
        path = source.files.get(key, source.directory)
        if labels.dtype.kind not in "iu":
            problem = _("they are {dtype} numbers").format(dtype=labels.dtype)
        elif labels.min() < 0 or labels.max() >= MAX_CLASSES:
            problem = _("they run from {low} to {high}").format(low=int(labels.min()), high=int(labels.max()))
        else:
            continue
        raise DataFormatError(
            _("{path}: expected labels that are class numbers from 0 to {last} (whole, at most {count} classes); "
              "{problem}. Write the labels as IDX type 0x08 (unsigned bytes).").format(
                path=path, last=MAX_CLASSES - 1, count=MAX_CLASSES, problem=problem)
        )  # fmt: skip
    images = arrays["train_images"]
    if images.dtype != np.uint8:
        raise DataFormatError(
            _("{path}: expected 8-bit grey pixels (IDX type 0x08), received {dtype}.").format(
                path=source.files.get("train_images", source.directory), dtype=images.dtype)
        )  # fmt: skip


def _class_names(name: str, directory: Path, labels: np.ndarray) -> tuple[str, ...]:
    if DATASET_KINDS[name].classes:
        return DATASET_KINDS[name].classes
    names_file = directory / "classes.txt"
    if names_file.is_file():
        names = [line.strip() for line in names_file.read_text().splitlines() if line.strip()]
        if len(names) > int(labels.max()):
            return tuple(names)
    return tuple(str(i) for i in range(int(labels.max()) + 1))


def load_dataset(
    name: str = "fashion-mnist",
    data_dir: str | Path | None = None,
    validation: int | float = 1000,
    split: str = "first",
    seed: int | None = None,
    max_train: int = 0,
    allow_download: bool | None = None,
    progress: bool = True,
    include_test: bool = True,
) -> Dataset:
    """Load the dataset and hold out a validation split (default: the notebook's first 1000).

    `max_train` > 0 keeps only that many training images (after the split), for
    quick experiments and tests. `include_test=False` leaves the test files unread
    (the test split is then empty): what a hyperparameter search uses.
    """
    source = locate(name, data_dir, allow_download=allow_download, progress=progress, include_test=include_test)
    arrays = _read_arrays(source.files)
    if not include_test:
        arrays["test_images"] = np.zeros((0, *arrays["train_images"].shape[1:]), np.uint8)
        arrays["test_labels"] = np.zeros((0,), np.uint8)
    _check_shapes(arrays, source)
    _check_labels(arrays, source)
    x_train, y_train, x_valid, y_valid = splits.split(
        arrays["train_images"], arrays["train_labels"], validation, split, seed
    )
    if max_train:
        x_train, y_train = x_train[:max_train], y_train[:max_train]
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_valid=x_valid,
        y_valid=y_valid,
        x_test=arrays["test_images"],
        y_test=arrays["test_labels"],
        class_names=_class_names(name, source.directory, arrays["train_labels"]),
        source=source,
        split={"validation": validation, "strategy": split, "seed": seed, "max_train": max_train},
    )


def dataset_for(
    recipe: Recipe, data_dir: str | Path | None = None, progress: bool = True, include_test: bool = True
) -> Dataset:
    """The dataset and split a recipe names (its seed decides a random or stratified split)."""
    d = recipe.data
    return load_dataset(
        d.dataset, data_dir, validation=d.validation, split=d.split, seed=recipe.seed,
        max_train=d.max_train, progress=progress, include_test=include_test,
    )  # fmt: skip
