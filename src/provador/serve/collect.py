"""The classroom loop (`provador serve RUN --collect DIR`): a photo sent from the web page with
"this is a …" is kept as DIR/<class>/<content hash>.<format>, a photo folder `provador adapt`
reads as it is.

The class comes only from the run's own class names (never a path from the request), the bytes
are the upload's own (the same file gives the same 28×28 image later), a photo already there is
never written again, and the folder is bounded in size.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from provador.base.i18n import _
from provador.core import photos

MAX_PHOTOS = 20_000  # a classroom's worth many times over; past it the disk is better protected
SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


class CollectError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def folder_name(class_name: str) -> str:
    """A class's folder: its name with `/` written `-` (`T-shirt/top` → `T-shirt-top`)."""
    return class_name.replace("/", "-")


class PhotoCollector:
    """Saves labelled photos into `folder`, one subfolder per class of the run."""

    def __init__(self, folder: str | Path, class_names: list[str]):
        self.folder = Path(folder)
        self.class_names = list(class_names)
        self._lock = threading.Lock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probe = self.folder / f".provador-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise OSError(
                _("Cannot collect photos into {folder}: {reason}. Name a folder you can write to.").format(
                    folder=self.folder, reason=exc.strerror)
            ) from None  # fmt: skip

    def counts(self) -> dict[str, int]:
        """Photos per class in the folder now (made by anyone: the teacher may add or remove some)."""
        out = {}
        for name in self.class_names:
            directory = self.folder / folder_name(name)
            out[name] = sum(1 for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")) \
                if directory.is_dir() else 0  # fmt: skip
        return out

    def save(self, data: bytes, label: str) -> tuple[str, bool]:
        """Keep `data` as a photo of `label`; returns (its path in the folder, whether it is new)."""
        if label not in self.class_names:
            raise CollectError(
                422, _("Expected `label` to be one of the model's classes ({classes}). Received: {label!r}").format(
                    classes=", ".join(self.class_names), label=label)
            )  # fmt: skip
        image = photos.open_image(data, "upload")  # the same errors as /v1/predict; decodes it whole
        suffix = SUFFIXES.get(image.format or "", ".img")
        digest = hashlib.sha256(data).hexdigest()[:32]
        directory = self.folder / folder_name(label)
        target = directory / f"{digest}{suffix}"
        with self._lock:
            if target.exists():
                return str(target.relative_to(self.folder)), False
            if sum(self.counts().values()) >= MAX_PHOTOS:
                raise CollectError(
                    507, _("The collection folder already holds {count} photos, the most this server keeps. Adapt "
                           "a run on them, then collect into a new folder.").format(count=MAX_PHOTOS)
                )  # fmt: skip
            directory.mkdir(exist_ok=True)
            partial = directory / f".{digest}.partial"
            partial.write_bytes(data)
            try:
                os.link(partial, target)  # fails if it exists: a photo is never overwritten
            except FileExistsError:
                return str(target.relative_to(self.folder)), False
            finally:
                partial.unlink(missing_ok=True)
        return str(target.relative_to(self.folder)), True
