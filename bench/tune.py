"""Hyperparameter search: TPE + pruning against random search without pruning, same budget.

    python bench/tune.py arms    [--budget 300] [--seeds 1 2] [--trial-time 15] [--arms tpe-median,random-none]
    python bench/tune.py workers [--budget 240]

`arms`: each arm (sampler-pruner) searches the shipped `mlp` space around `mlp-fast` for the
same wall-clock budget, once per seed (the seed moves the training initialisation, the
stratified validation split and the sampler), each search in a fresh process; repeats are
interleaved so that the machine's drifts hit every arm. Printed: best validation accuracy
reached at a quarter, half and all of the budget, then each winner retrained from its
best.toml and tested once (test accuracy, training seconds): the baseline is random search
without pruning, in the same invocation.

`workers`: trials finished per hour by one worker and by two worker processes on this machine
(random sampler, no pruning, the same budget).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

PROVADOR = [sys.executable, "-m", "provador"]


def search(folder: Path, study: str, sampler: str, pruner: str, budget: int, seed: int, trial_time: float | None,
           workers: int = 1) -> dict:  # fmt: skip
    command = [*PROVADOR, "tune", "--recipe", "mlp-fast", "--space", "mlp", "--timeout", f"{budget}s",
               "--study", study, "--studies-dir", str(folder), "--sampler", sampler, "--pruner", pruner,
               "--set", f"seed={seed}", "--workers", str(workers), "--quiet"]  # fmt: skip
    if trial_time:
        command += ["--trial-time", f"{trial_time}s"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    import optuna
    from optuna.trial import TrialState

    from provador.records.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    trials = optuna.load_study(study_name=study, storage=open_storage(None, folder / study)).trials
    start = min(t.datetime_start for t in trials if t.datetime_start).timestamp()
    complete = [(t.datetime_complete.timestamp() - start, t.value) for t in trials if t.state == TrialState.COMPLETE]

    def best_by(seconds: float) -> float | None:
        values = [v for at, v in complete if at <= seconds]
        return max(values) if values else None

    states = [t.state.name.lower() for t in trials]
    return {
        "trials": len(trials), "complete": states.count("complete"), "pruned": states.count("pruned"),
        "failed": states.count("fail"),
        "best_at": {f: best_by(f * budget) for f in (0.25, 0.5, 1.0)},
        "best_recipe": str(folder / study / "best.toml"),
    }  # fmt: skip


def test_once(recipe: Path, runs_dir: Path) -> tuple[float, float]:
    """Retrain the winner from its best.toml and read its one test evaluation."""
    out = subprocess.run([*PROVADOR, "train", "--recipe", str(recipe), "--runs-dir", str(runs_dir), "--quiet"],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]  # fmt: skip
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    return metrics["test"]["accuracy"], metrics["training_seconds"]


def cell(value) -> str:
    return "   -  " if value is None else f"{value:.4f}"


def arms(args) -> None:
    chosen = args.arms.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in args.seeds:
            for arm in chosen:
                sampler, pruner = arm.split("-")
                found = search(root, f"{arm}-s{seed}", sampler, pruner, args.budget, seed, args.trial_time)
                best = Path(found["best_recipe"])
                test, seconds = test_once(best, root / "runs") if best.is_file() else (None, None)
                rows.append({"arm": arm, "seed": seed, **found, "test": test, "train_s": seconds})
                print(f"  done: {arm} seed {seed}: best val {cell(found['best_at'][1.0])}, test {cell(test)}",
                      file=sys.stderr, flush=True)  # fmt: skip
    print(f"\nSpace `mlp` on recipe `mlp-fast`, {args.budget} s per search"
          + (f", at most {args.trial_time:g} s of training per trial" if args.trial_time else "") + "\n")  # fmt: skip
    print(f"{'arm':<15}{'seed':>5}{'trials':>7}{'done':>5}{'pruned':>7}{'fail':>5}   best val at 1/4   1/2   all"
          f"   winner test  train s")  # fmt: skip
    for r in rows:
        b = r["best_at"]
        print(f"{r['arm']:<15}{r['seed']:>5}{r['trials']:>7}{r['complete']:>5}{r['pruned']:>7}{r['failed']:>5}"
              f"   {cell(b[0.25]):>14} {cell(b[0.5])} {cell(b[1.0])}   {cell(r['test'])}     {r['train_s'] or 0:6.1f}")  # fmt: skip
    print("\nmedians over seeds")
    baseline = statistics.median(r["best_at"][1.0] or 0 for r in rows if r["arm"] == chosen[-1])
    for arm in chosen:
        mine = [r for r in rows if r["arm"] == arm]
        val = statistics.median(r["best_at"][1.0] or 0 for r in mine)
        print(f"{arm:<15} trials {statistics.median(r['trials'] for r in mine):>5.1f}  best val {val:.4f} "
              f"({val - baseline:+.4f} vs {chosen[-1]})  winner test {statistics.median(r['test'] or 0 for r in mine):.4f}  "
              f"train {statistics.median(r['train_s'] or 0 for r in mine):.1f} s")  # fmt: skip


def workers(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {}
        for count in (1, 2):
            started = time.perf_counter()
            found = search(root, f"w{count}", "random", "none", args.budget, 1, None, workers=count)
            elapsed = time.perf_counter() - started
            finished = found["complete"] + found["pruned"]
            results[count] = finished / elapsed * 3600
            print(f"{count} worker(s): {finished} trials finished in {elapsed:.0f} s = {results[count]:.0f} per hour")
    print(f"ratio two workers / one: {results[2] / results[1]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(required=True)
    a = commands.add_parser("arms")
    a.add_argument("--budget", type=int, default=300, help="seconds per search")
    a.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    a.add_argument("--trial-time", type=float, default=15.0, help="seconds of training per trial at most (0: none)")
    a.add_argument("--arms", default="tpe-median,tpe-hyperband,random-none", help="the last one is the baseline")
    a.set_defaults(run=arms)
    w = commands.add_parser("workers")
    w.add_argument("--budget", type=int, default=240)
    w.set_defaults(run=workers)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
