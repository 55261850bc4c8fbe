"""What importing Keras on JAX costs with each ml_dtypes release (every computing command pays it).

ml_dtypes (NumPy's bfloat16 and float8 types, which JAX and Keras import) 0.7.0 spends about a
second of CPU registering its types, 0.6.0 a tenth of that; constraints.txt pins the faster one.
Each version is installed once into bench/.ml-dtypes-<version>/ (from PyPI, first use only) and put
ahead of the venv's own on sys.path; each import runs in a fresh process, versions interleaved.

    .venv/bin/python bench/import_keras.py --versions 0.6.0 0.7.0 --repeats 7
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def installed(version: str) -> Path:
    target = HERE / f".ml-dtypes-{version}"
    if not (target / "ml_dtypes").is_dir():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        f"ml_dtypes=={version}"], check=True)  # fmt: skip
    return target


def one_import(path: Path) -> tuple[float, float, str]:
    """Wall and CPU seconds of `import keras` in a fresh process with `path` first on sys.path."""
    code = f"import sys; sys.path.insert(0, {str(path)!r}); import keras, ml_dtypes; print(ml_dtypes.__version__)"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "KERAS_BACKEND": "jax"})  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", nargs="+", default=["0.6.0", "0.7.0"])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    paths = {version: installed(version) for version in args.versions}
    walls: dict[str, list[float]] = {v: [] for v in args.versions}
    cpus: dict[str, list[float]] = {v: [] for v in args.versions}
    for _ in range(args.repeats):
        for version, path in paths.items():
            wall, cpu, loaded = one_import(path)
            if loaded != version:
                sys.exit(f"expected ml_dtypes {version} to load, got {loaded}")
            walls[version].append(wall)
            cpus[version].append(cpu)
    base = statistics.median(cpus[args.versions[0]])
    print(f"import keras (JAX backend), fresh process, {args.repeats} interleaved repeats; medians (min-max)")
    print(f"{'ml_dtypes':10} {'wall s':>18} {'CPU s':>18} {'CPU × first':>12}")
    for version in args.versions:
        w, c = walls[version], cpus[version]
        print(f"{version:10} {statistics.median(w):6.2f} ({min(w):.2f}-{max(w):.2f})"
              f" {statistics.median(c):6.2f} ({min(c):.2f}-{max(c):.2f}) {statistics.median(c) / base:11.2f}×")  # fmt: skip


if __name__ == "__main__":
    main()
