"""How long `provador` takes to answer the commands that compute nothing.

Each command runs in a fresh process, repeats interleaved with two baselines measured in the
same invocation: a bare Python start-up, and importing Keras on JAX (what every command paid
before the listing commands stopped importing it). Prints the median and the range per command,
and whether the command loaded Keras, JAX, NumPy or pydantic (`python -X importtime`).

    .venv/bin/python bench/startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROVADOR = [sys.executable, "-m", "provador"]
HEAVY = ("keras", "jax", "numpy", "pydantic", "optuna")


def commands(runs_dir: Path) -> dict[str, list[str]]:
    return {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "import Keras on JAX (baseline)": [sys.executable, "-c", "import provador.base._keras"],
        "provador --help": [*PROVADOR, "--help"],
        "provador export --help": [*PROVADOR, "export", "--help"],
        "provador recipes": [*PROVADOR, "recipes"],
        "provador models": [*PROVADOR, "models"],
        "provador spaces": [*PROVADOR, "spaces"],
        "provador runs": [*PROVADOR, "runs", "--runs-dir", str(runs_dir)],
        "provador studies": [*PROVADOR, "studies", "--studies-dir", str(runs_dir)],
    }


def write_a_run(runs_dir: Path) -> None:
    """One finished-looking run, so that `provador runs` reads a run.json and a recipe.toml."""
    run = runs_dir / "seed-20260101-120000"
    run.mkdir(parents=True)
    recipe = subprocess.run([*PROVADOR, "recipes", "seed"], capture_output=True, text=True, check=True).stdout
    (run / "recipe.toml").write_text(recipe)
    (run / "run.json").write_text('{"status": "completed", "recipe": "seed", "model": "mlp", "created": "2026-01-01"}')
    (run / "metrics.json").write_text('{"epochs": 30, "test": {"accuracy": 0.8797}, "training_seconds": 29.4}')


def seconds(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def loaded(command: list[str]) -> list[str]:
    """The heavy libraries a command imports, from `-X importtime` (top-level packages only)."""
    result = subprocess.run([sys.executable, "-X", "importtime", *command[1:]], capture_output=True, text=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    return [name for name in HEAVY if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        runs_dir = Path(folder)
        write_a_run(runs_dir)
        table = commands(runs_dir)
        times: dict[str, list[float]] = {name: [] for name in table}
        for command in table.values():  # once untimed: the file system cache is warm for all
            seconds(command)
        for _ in range(args.repeats):
            for name, command in table.items():
                times[name].append(seconds(command))
        keras = statistics.median(times["import Keras on JAX (baseline)"])
        print(f"{'command':<32}{'median s':>9}{'min-max':>15}{'vs Keras import':>17}  loads")
        for name, command in table.items():
            found = ", ".join(loaded(command)) if name.startswith("provador") else ""
            median = statistics.median(times[name])
            spread = f"{min(times[name]):.2f}-{max(times[name]):.2f}"
            print(f"{name:<32}{median:>9.2f}{spread:>15}{median / keras:>16.2f}×  {found or '-'}")
    print(f"\n{args.repeats} repeats, interleaved; each command in a fresh process.")


if __name__ == "__main__":
    main()
