"""What the prepared-photo cache saves: reading labelled photo folders with an empty cache (every
photo decoded, segmented and made 28×28) against reading them again (hashes only).

    python bench/photo_folders.py [PHOTO_DIR] [--repeats 3]

PHOTO_DIR has the layout of the project's `shared/photos` (SOURCE/CLASS/photo); each source is
one `--photos` folder. Every repeat starts from a fresh, empty cache; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from provador.core.datasets import FASHION_MNIST_CLASSES
from provador.core.photo_folders import read_photo_folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "photo_dir", nargs="?", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "photos")
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folders = sorted(p for p in Path(args.photo_dir).iterdir() if p.is_dir())
    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            os.environ["XDG_CACHE_HOME"] = cache
            started = time.perf_counter()
            first = read_photo_folders(folders, FASHION_MNIST_CLASSES)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            again = read_photo_folders(folders, FASHION_MNIST_CLASSES)
            warm.append(time.perf_counter() - started)
            assert again.from_cache == len(first) and (again.pixels == first.pixels).all()
    print(f"{len(first)} photos in {len(folders)} folders ({args.photo_dir}), {args.repeats} repeats, medians:")
    print(f"  empty cache: {statistics.median(cold):.2f} s ({min(cold):.2f}-{max(cold):.2f})")
    print(f"  read again:  {statistics.median(warm):.2f} s ({min(warm):.2f}-{max(warm):.2f}), "
          f"{statistics.median(warm) / statistics.median(cold):.2f}× the first time")  # fmt: skip


if __name__ == "__main__":
    main()
