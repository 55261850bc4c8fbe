"""Folders of labelled photos as data: one subfolder per class, the layout of Keras'
`image_dataset_from_directory` and torchvision's `ImageFolder`.

Every photo goes through `photos.prepare`, the pipeline `predict` and the server use, so what a
model learns from a folder is exactly what it will be shown later. Prepared images are cached by
the file's content hash (and the pipeline's own fingerprint: a change to the pipeline refills the
cache), the same photo found twice counts once, and a file that cannot be read is reported and
skipped, never fatal.
"""

from __future__ import annotations

import hashlib
import os
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from provador.base import _files
from provador.base.errors import InputError
from provador.base.i18n import LANGUAGES, _, class_name, language
from provador.core import photos, segmentation
from provador.core.datasets import Dataset, user_cache

IMAGE_SUFFIXES = photos.IMAGE_SUFFIXES
MAX_FILE_BYTES = 50 * 2**20  # a larger file is no phone photo: skipped, not read into memory
MIN_PER_CLASS_TO_HOLD_OUT = 2  # a class needs this many photos to keep one for validation


def _key(name: str) -> str:
    """A folder or class name reduced to letters and digits, without accents or case:
    `T-shirt-top`, `t-shirt_top`, `T-shirt/top` and `Camiseta/top` each find their class."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def class_keys(class_names: tuple[str, ...] | list[str]) -> dict[str, int]:
    """Every spelling that names a class: its name and its name in each language provador speaks."""
    keys: dict[str, int] = {}
    for index, name in enumerate(class_names):
        keys[_key(name)] = index
        for code in LANGUAGES:
            with language(code):
                keys.setdefault(_key(class_name(name)), index)
    return keys


def match_class(folder_name: str, keys: dict[str, int]) -> int | None:
    """The class a folder's name stands for (plurals too: `Sneakers`, `Dresses`), or None."""
    key = _key(folder_name)
    for candidate in (key, key.removesuffix("s"), key.removesuffix("es")):
        if candidate in keys:
            return keys[candidate]
    return None


@cache
def pipeline_fingerprint() -> str:
    """What the prepared images depend on: the pipeline's code and the libraries that draw them."""
    import cv2
    import PIL

    digest = hashlib.sha256()
    for module in (photos, segmentation):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(f"{PIL.__version__} {cv2.__version__}".encode())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    return user_cache() / "photos" / pipeline_fingerprint()


@dataclass
class PhotoSet:
    """Labelled photos, prepared: what a photo folder holds, and what was left out and why."""

    folders: list[str]
    class_names: tuple[str, ...]
    pixels: np.ndarray  # (N, 28, 28) uint8, as `predict` would show them to the model
    labels: np.ndarray  # (N,) class indices
    sources: list[str]  # the file each came from
    digests: list[str]  # SHA-256 of each file's bytes
    garment_found: np.ndarray  # (N,) bool: False where nothing stood out from the background
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, the copy that was kept)
    left_out: list[str] = field(default_factory=list)  # subfolders whose name is no class
    from_cache: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def per_class(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, counts)}

    def content_sha256(self) -> str:
        """One hash for the photos and their labels, whatever the files are called or where they are."""
        lines = sorted(f"{digest} {self.class_names[label]}" for digest, label in zip(self.digests, self.labels))
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()

    def subset(self, indices) -> PhotoSet:
        indices = np.asarray(indices, dtype=np.int64)
        return PhotoSet(
            self.folders, self.class_names, self.pixels[indices], self.labels[indices],
            [self.sources[i] for i in indices], [self.digests[i] for i in indices], self.garment_found[indices],
        )  # fmt: skip

    def summary(self) -> dict:
        """What `provador data info --photos` prints."""
        return {
            "folders": self.folders,
            "photos": len(self),
            "sha256": self.content_sha256(),
            "per_class": self.per_class(),
            "skipped": [{"file": path, "reason": why} for path, why in self.skipped],
            "duplicates": [{"file": path, "copy_of": kept} for path, kept in self.duplicates],
            "left_out_folders": self.left_out,
            "from_cache": self.from_cache,
        }


def read_photo_folders(
    folders: list[str | Path],
    class_names: tuple[str, ...] | list[str],
    progress: bool = False,
    labels: dict[str, str] | None = None,
) -> PhotoSet:
    """Read, prepare and label every photo under `folders` (each: one subfolder per class, or a
    folder of such folders, as SOURCE/CLASS/photo). `labels` names the class of subfolders whose
    name is none (`{"footwear-shoes": "Sneaker"}`)."""
    class_names = tuple(class_names)
    keys = {**class_keys(class_names), **_label_keys(labels or {}, class_names)}
    found: list[tuple[Path, int]] = []
    skipped: list[tuple[str, str]] = []
    left_out: list[str] = []
    for folder in map(Path, folders):
        class_dirs = _class_dirs(folder, class_names)
        if not any(match_class(d.name, keys) is not None for d in class_dirs):
            # No class here: a folder of photo folders (one per source, like ../shared/photos)?
            nested = [child for d in class_dirs for child in _subfolders(d)]
            if any(match_class(child.name, keys) is not None for child in nested):
                class_dirs = nested
        for class_dir in class_dirs:
            label = match_class(class_dir.name, keys)
            if label is None:
                left_out.append(str(class_dir))
                continue
            for path in _files_under(class_dir):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((path, label))
                else:
                    skipped.append((str(path), _("not an image file (expected {suffixes})").format(
                        suffixes=", ".join(IMAGE_SUFFIXES))))  # fmt: skip
    if not found:
        raise InputError(
            _("No photos of a known class in {folders}: expected subfolders named after the classes ({classes}), "
              "each holding photos. Subfolders left out: {left}.").format(
                folders=", ".join(map(str, folders)), classes=", ".join(class_names),
                left=", ".join(Path(p).name for p in left_out) or _("none"))
            + (" " + _("Name the class of a folder with --label FOLDER=CLASS.") if left_out else "")
        )  # fmt: skip
    return _prepare_all(found, [str(f) for f in folders], class_names, skipped, left_out, progress)


def _label_keys(labels: dict[str, str], class_names: tuple[str, ...]) -> dict[str, int]:
    """The folder names `labels` gives a class, as keys; a class that is none is refused."""
    keys, spellings = {}, class_keys(class_names)
    for folder, label in labels.items():
        index = match_class(label, spellings)
        if index is None:
            raise InputError(
                _("--label {folder}={label}: {label} is not a class. Expected one of {classes}.").format(
                    folder=folder, label=label, classes=", ".join(class_names))
            )  # fmt: skip
        keys[_key(folder)] = index
    return keys


def parse_labels(assignments: list[str]) -> dict[str, str]:
    """`--label FOLDER=CLASS` options as a dict."""
    labels = {}
    for assignment in assignments:
        folder, sep, label = assignment.partition("=")
        if not sep or not folder.strip() or not label.strip():
            raise InputError(
                _("Expected --label FOLDER=CLASS, e.g. --label footwear-shoes=Sneaker. Received: {value!r}").format(
                    value=assignment)
            )  # fmt: skip
        labels[folder.strip()] = label.strip()
    return labels


def _subfolders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def _class_dirs(folder: Path, class_names: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        raise InputError(
            _("Photo folder {folder} does not exist or is not a folder: expected a folder with one subfolder per "
              "class, such as {folder}/Sneaker/photo.jpg.").format(folder=folder)
        )  # fmt: skip
    try:
        subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise InputError(
            _("Cannot read photo folder {folder}: {reason}.").format(folder=folder, reason=exc.strerror)
        ) from None
    if not subfolders:
        loose = any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())
        raise InputError(
            _("Photo folder {folder} has no class subfolders: expected one subfolder per class ({classes}), "
              "e.g. {folder}/Sneaker/photo.jpg.").format(folder=folder, classes=", ".join(class_names))
            + (" " + _("Its photos lie loose in it: sort them into subfolders named after their class.") if loose
               else "")
        )  # fmt: skip
    return subfolders


def _files_under(folder: Path) -> list[Path]:
    """Every file below `folder`, in name order; linked folders are not entered (no loops)."""
    found = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / name for name in sorted(names) if not name.startswith(".")]
    return found


def _prepare_all(found, folders, class_names, skipped, left_out, progress) -> PhotoSet:
    # First every file's hash, so that copies are known before anything is kept: a photo found
    # under two classes has no clear class, and neither copy is learnt.
    hashed: list[tuple[Path, int, str]] = []
    labels_of: dict[str, set[int]] = {}
    for path, label in found:
        try:
            digest = hashlib.sha256(_read_bytes(path)).hexdigest()
        except InputError as exc:
            skipped.append((str(path), str(exc)))
            continue
        hashed.append((path, label, digest))
        labels_of.setdefault(digest, set()).add(label)
    store = cache_dir()
    pixels, labels, sources, digests, garments = [], [], [], [], []
    first_copy: dict[str, str] = {}
    duplicates: list[tuple[str, str]] = []
    from_cache = 0
    progress = progress and sys.stderr.isatty()  # a counter for a person; a log file gets nothing
    for done, (path, label, digest) in enumerate(hashed, 1):
        if progress and (done % 25 == 0 or done == len(hashed)):
            print("\r" + _("Preparing photos: {done}/{total}").format(done=done, total=len(hashed)),
                  end="\n" if done == len(hashed) else "", file=sys.stderr, flush=True)  # fmt: skip
        if len(labels_of[digest]) > 1:
            skipped.append((str(path), _("the same photo is also under {classes}: its class is unclear").format(
                classes=", ".join(class_names[k] for k in sorted(labels_of[digest]) if k != label))))  # fmt: skip
            continue
        if digest in first_copy:
            duplicates.append((str(path), first_copy[digest]))
            continue
        prepared = _cached(store, digest)
        if prepared is None:
            try:
                made = photos.prepare(_read_bytes(path), name=str(path))
            except InputError as exc:
                skipped.append((str(path), str(exc)))
                continue
            prepared = (made.pixels, made.garment_found)
            _store(store, digest, *prepared)
        else:
            from_cache += 1
        first_copy[digest] = str(path)
        pixels.append(prepared[0])
        garments.append(prepared[1])
        labels.append(label)
        sources.append(str(path))
        digests.append(digest)
    if not labels:
        raise InputError(
            _("None of the {count} photos in {folders} could be used (listed above as skipped).").format(
                count=len(found), folders=", ".join(folders))
            + "\n" + "\n".join(f"  {path}: {why}" for path, why in skipped[:10])
        )  # fmt: skip
    return PhotoSet(
        folders, class_names, np.stack(pixels), np.asarray(labels, dtype=np.int64), sources, digests,
        np.asarray(garments, dtype=bool), skipped, duplicates, left_out, from_cache,
    )  # fmt: skip


def _read_bytes(path: Path) -> bytes:
    try:
        if not path.is_file():  # a pipe or a device would block or never end; a dangling link has nothing
            raise InputError(_("{path} is not a regular file.").format(path=path))
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                _("{path} is {size} MB; photos over {limit} MB are left out.").format(
                    path=path, size=size // 2**20, limit=MAX_FILE_BYTES // 2**20)
            )  # fmt: skip
        return path.read_bytes()
    except OSError as exc:
        raise InputError(_("Cannot read {path}: {reason}.").format(path=path, reason=exc.strerror)) from None


_CACHED_BYTES = photos.SIZE * photos.SIZE + 1  # the pixels, then 1 when a garment was found


def _cached(store: Path, digest: str) -> tuple[np.ndarray, bool] | None:
    try:
        raw = (store / digest[:2] / digest).read_bytes()
    except OSError:
        return None
    if len(raw) != _CACHED_BYTES:
        return None  # damaged: prepared again
    array = np.frombuffer(raw, np.uint8)
    return array[:-1].reshape(photos.SIZE, photos.SIZE).copy(), bool(array[-1])


def _store(store: Path, digest: str, pixels: np.ndarray, garment_found: bool) -> None:
    try:
        (store / digest[:2]).mkdir(parents=True, exist_ok=True)
        with _files.atomic_path(store / digest[:2] / digest) as tmp:
            tmp.write_bytes(np.asarray(pixels, np.uint8).tobytes() + bytes([int(garment_found)]))
    except OSError:
        pass  # a read-only or full cache only costs time


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held out): `fraction` of each class held out, at least one per class, never all."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        count = min(len(members) - 1, max(1, round(fraction * len(members))))
        held += list(members[:count])
        train += list(members[count:])
    return np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(held, np.int64))


def check_can_learn(photo_set: PhotoSet) -> None:
    """Refuse photos a model cannot be adapted to with a validation split: say which and why."""
    present = {name: n for name, n in photo_set.per_class().items() if n}
    if len(present) < 2:
        raise InputError(
            _("The photos are of one class only ({classes}): a model taught one class would call everything that. "
              "Add photos of at least one other class.").format(classes=", ".join(present))
        )  # fmt: skip
    few = [f"{name} ({n})" for name, n in present.items() if n < MIN_PER_CLASS_TO_HOLD_OUT]
    if few:
        raise InputError(
            _("Too few photos to hold some out for validation: {classes}. Each class needs at least {minimum}; add "
              "photos, or move that folder out.").format(classes=", ".join(few), minimum=MIN_PER_CLASS_TO_HOLD_OUT)
        )  # fmt: skip


def adapted_dataset(
    base: Dataset, photo_set: PhotoSet, validation: float, share: float, fashion_images: int, seed: int
) -> Dataset:
    """The data an adapted run learns from: `fashion_images` of the dataset's training images (so
    the model keeps what it knew) with the training photos repeated until they are `share` of each
    epoch; validation is a stratified hold-out of the photos (a photo is in one split only: copies
    were counted once), so early stopping and the calibration temperature follow the photos; the
    test set stays the dataset's."""
    train, held = stratified_holdout(photo_set.labels, validation, seed)
    rng = np.random.default_rng(seed)
    keep = len(base.x_train) if fashion_images >= len(base.x_train) else fashion_images
    fashion = np.sort(rng.choice(len(base.x_train), size=keep, replace=False)) if keep else np.zeros(0, np.int64)
    repeats = max(1, round(share / (1 - share) * keep / len(train))) if keep else 1
    x_photos = np.tile(photo_set.pixels[train], (repeats, 1, 1))
    y_photos = np.tile(photo_set.labels[train].astype(base.y_train.dtype), repeats)
    split = {
        **base.split,
        "photos": {"train": int(len(train)), "valid": int(len(held)), "repeats": int(repeats),
                   "fashion_images": int(keep), "sha256": photo_set.content_sha256()},
    }  # fmt: skip
    return Dataset(
        x_train=np.concatenate([base.x_train[fashion], x_photos]),
        y_train=np.concatenate([base.y_train[fashion], y_photos]),
        x_valid=photo_set.pixels[held],
        y_valid=photo_set.labels[held].astype(base.y_valid.dtype),
        x_test=base.x_test,
        y_test=base.y_test,
        class_names=base.class_names,
        source=base.source,
        split=split,
    )
