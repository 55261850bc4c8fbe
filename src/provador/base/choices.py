"""Allowed values, defined once: the recipe schema, the library's checks and the CLI's `choices`
all take them from here (a module with no imports of its own, so the CLI starts fast)."""

from __future__ import annotations

from typing import Literal, get_args

DatasetName = Literal["fashion-mnist", "idx"]
DATASETS: tuple[str, ...] = get_args(DatasetName)

SplitStrategy = Literal["first", "random", "stratified"]
STRATEGIES: tuple[str, ...] = get_args(SplitStrategy)

Sampler = Literal["tpe", "random"]  # how a search chooses its trials
SAMPLERS: tuple[str, ...] = get_args(Sampler)

Pruner = Literal["median", "hyperband", "none"]  # how a search stops poor trials early
PRUNERS: tuple[str, ...] = get_args(Pruner)

Engine = Literal["keras", "onnx"]  # what computes a served model's answers
ENGINES: tuple[str, ...] = get_args(Engine)

TEMPERATURE_RANGE = (0.25, 8.0)  # the only calibration temperatures provador fits; run files are checked against it

# Defaults the library's signatures and the command's options share (the CLI reads them here, so
# `provador --help` states what the library does without importing it).
TRACKERS = ("mlflow", "tensorboard")  # `--track`: where a run is also sent (provador.work.tracking)
RUNS_DIR = "runs"  # where run directories go
STUDIES_DIR = "studies"  # where study folders go
TOP_K = 3  # classes listed per answer (`predict --top`, the API's `?top_k`)
HEARTBEAT = 60  # seconds a silent search worker (killed, machine lost) is given before its trial is failed
HOST, PORT = "127.0.0.1", 8000  # where `provador serve` listens: this machine only
LIMIT_CONCURRENCY = 256  # connections and requests `provador serve` takes at once before new ones get 503
SAMPLER, PRUNER = "tpe", "median"
VALIDATION = 1000  # the notebook's first 1000 training images
