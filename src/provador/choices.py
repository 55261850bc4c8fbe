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

ExportFormat = Literal["onnx", "saved-model", "litert"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)

Engine = Literal["keras", "onnx"]  # what computes a served model's answers
ENGINES: tuple[str, ...] = get_args(Engine)
