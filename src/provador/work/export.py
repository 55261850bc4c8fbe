"""Export a trained run as ONNX, TensorFlow SavedModel or LiteRT, verified before it is written.

What is exported is provador's whole answer, not just the network: raw uint8 pixels
`[batch, 28, 28]` in (any batch size), the ten probabilities out, with the mirror averaging and
the calibration temperature of `Predictor` inside the graph, so every runtime answers as
`provador predict` does.

Keras exports ONNX and LiteRT only from its TensorFlow backend (tf2onnx, TensorFlow's LiteRT
converter); JAX's own ONNX route (jax2onnx) failed on the zoo's `cnn-bn` and wrote a MaxPool that
onnxruntime rejects. So the export runs in a child process with KERAS_BACKEND=tensorflow, whatever
backend trained the run: it loads `model.keras` there, exports to a temporary path, runs the file
in its own runtime (onnxruntime, TensorFlow, the LiteRT interpreter) on the first 1,000 test
images in batches of 64 and one at a time, and compares with the probabilities `Predictor`
computed in this process. Only a file within TOLERANCE that picks the same class for every image
is moved into place.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from provador import __version__
from provador.base._install import pip_install
from provador.base.errors import ProvadorError, RunError
from provador.base.i18n import _
from provador.records import runs
from provador.work.export_formats import FORMATS, SIGNATURE_FILE

TOLERANCE = 1e-4  # largest difference of a probability allowed (float32 graphs differ by ~1e-6)
VERIFY_IMAGES = 1000


class ExportError(ProvadorError):
    """An export that cannot be made, or whose file does not answer as the model does."""


@dataclass(frozen=True)
class ExportResult:
    format: str
    path: str
    images: int
    batch_sizes: list[int]
    max_abs_difference: float
    class_agreement: float
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def export(
    run: runs.Run | str | Path,
    format: str = "onnx",
    output: str | Path | None = None,
    data_dir=None,
    force: bool = False,
) -> ExportResult:
    """Export `run` to `format` (default file in RUN/export/, or `output`); returns where, and how
    closely the file matched the model. `output` must be new or an earlier export of provador's;
    `force` lets a file (never a folder, never a run's own file) be replaced."""
    run = _exportable(run, [format])
    target = Path(output).expanduser() if output else _default_folder(run) / FORMATS[format].file
    _check_target(run, format, target, force)
    return _export_verified(run, {format: target}, data_dir)[0]


def export_all(
    run: runs.Run | str | Path, folder: str | Path | None = None, data_dir=None, force: bool = False
) -> list[ExportResult]:
    """Every format into `folder` (default RUN/export/), made and checked in one TensorFlow process;
    none is written unless all pass."""
    run = _exportable(run, list(FORMATS))
    folder = Path(folder).expanduser() if folder else _default_folder(run)
    targets = {name: folder / kind.file for name, kind in FORMATS.items()}
    for format, target in targets.items():
        _check_target(run, format, target, force)
    return _export_verified(run, targets, data_dir)


def _check_target(run: runs.Run, format: str, target: Path, force: bool) -> None:
    """Refuse any target whose loss would be a loss: export writes only to a new path or over an
    earlier export it recognises by its own metadata. `force` replaces another *file*, but never a
    folder that is not an export, a device or pipe, or a file of a run."""
    if not (target.exists() or target.is_symlink()) or is_provador_export(format, target):
        return
    how = _("Choose a new path with --output, or remove it yourself if it is not needed.")
    if target.is_dir() and not target.is_symlink():
        refusal = _("{path} is a folder that is not an export of provador's: exporting there would replace it.")
    elif not (target.is_file() or target.is_symlink()):
        refusal = _("{path} is not a regular file (a device, a pipe or a socket).")
    elif _belongs_to_a_run(target):
        refusal = _("{path} is a file of a provador run: replacing it would damage that run.")
    elif force:
        return
    else:
        refusal = _("{path} exists and is not an export of provador's.")
        how = _("Pass --force to replace it, or choose a new path with --output.")
    raise ExportError(refusal.format(path=target) + " " + _("Nothing was written.") + " " + how)


def _belongs_to_a_run(path: Path) -> bool:
    """A file directly in a run folder (its model, its records), a link to one, or a link to a
    run folder itself (`runs/latest`)."""
    resolved = path.resolve()
    return any((folder / runs.RUN_FILE).is_file() for folder in (path.parent.resolve(), resolved.parent, resolved))


def is_provador_export(format: str, path: Path) -> bool:
    """Whether `path` is a file (or SavedModel folder) that `provador export` wrote in `format`,
    read from the metadata every export carries (see `signature`)."""
    if path.is_symlink():
        return False
    kind = FORMATS[format]
    if kind.is_folder:
        return (path.is_dir() and {p.name for p in path.iterdir()} <= kind.folder_layout
                and _is_signature(kind.signature_path(path)))  # fmt: skip
    if not path.is_file():
        return False
    if kind.magic is not None:
        with path.open("rb") as f:
            magic = f.read(8)[4:]
        return magic == kind.magic and _is_signature(kind.signature_path(path))
    return "provador_version" in onnx_metadata(path)


def _is_signature(path: Path) -> bool:
    try:
        meta = json.loads(path.read_text(encoding="utf-8")) if path.is_file() and path.stat().st_size < 2**20 else {}
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and {"provador_version", "classes", "run"} <= meta.keys()


def onnx_metadata(path: Path) -> dict[str, str]:
    """The metadata properties of an ONNX file ({} for anything that is not one)."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 (onnx raises DecodeError, ValueError, …: not an ONNX file)
        return {}
    return {prop.key: prop.value for prop in graph.metadata_props}


def _default_folder(run: runs.Run) -> Path:
    folder = run.path / runs.EXPORT_DIR
    folder.mkdir(exist_ok=True)
    return folder


def _exportable(run: runs.Run | str | Path, formats: list[str]) -> runs.Run:
    run = runs.resolve_run(run)
    unknown = [format for format in formats if format not in FORMATS]
    if unknown:
        raise ExportError(
            _("Unknown export format {format!r}: expected one of {formats}.").format(
                format=unknown[0], formats=", ".join(FORMATS)
            )
        )
    if run.status != runs.Status.COMPLETED:
        raise RunError(
            _("Run {run} is {status}: only a completed run can be exported.").format(run=run.path, status=_(run.status))
        )
    run.model_path  # noqa: B018 (says why when there is no model)
    for format in formats:
        missing = [package for module, package in FORMATS[format].needs if importlib.util.find_spec(module) is None]
        if missing:
            raise ExportError(
                _("Exporting to {format} needs {packages}: {command}").format(
                    format=format, packages=", ".join(missing), command=pip_install("export")
                )
            )
    return run


def _export_verified(run: runs.Run, targets: dict[str, Path], data_dir) -> list[ExportResult]:
    started = time.perf_counter()
    folder = next(iter(targets.values())).parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ExportError(
            _("Cannot write {path}: the folder {folder} does not exist or is not writable.").format(
                path=next(iter(targets.values())), folder=folder
            )
        )
    images, reference = _reference(run, data_dir)
    with tempfile.TemporaryDirectory(prefix=".provador-export-", dir=folder) as scratch:
        check = Path(scratch) / "check.npz"
        np.savez(check, images=images, reference=reference)
        made = {format: Path(scratch) / format / target.name for format, target in targets.items()}
        reports = _run_exporter(run, made, check)
        for format, report in reports.items():  # all checked before any is moved into place
            if report["max_abs_difference"] > TOLERANCE or report["class_agreement"] < 1.0:
                raise ExportError(
                    _("The exported {format} file does not answer as the model does (largest difference {difference}, "
                      "same class for {agreement} of {images} images; allowed: {tolerance}, all). Nothing was written."
                    ).format(format=format, difference=f"{report['max_abs_difference']:.2g}",
                             agreement=f"{report['class_agreement']:.1%}", images=len(images), tolerance=TOLERANCE)
                )  # fmt: skip
        for format, target in targets.items():
            _move_into_place(made[format], target)
            if FORMATS[format].signature_beside:
                _move_into_place(made[format].parent / SIGNATURE_FILE, FORMATS[format].signature_path(target))
    seconds = round(time.perf_counter() - started, 2)
    return [
        ExportResult(format, str(target), len(images), reports[format]["batch_sizes"],
                     reports[format]["max_abs_difference"], reports[format]["class_agreement"], seconds)
        for format, target in targets.items()
    ]  # fmt: skip


export_model = export  # `provador.export_model(run)`: `provador.work.export` is this module's name


def _reference(run: runs.Run, data_dir) -> tuple[np.ndarray, np.ndarray]:
    """The first test images and the probabilities provador gives them (in this process's backend)."""
    from provador.core.datasets import dataset_for
    from provador.work.inference import Predictor

    images = dataset_for(run.recipe, data_dir, progress=False).x_test[:VERIFY_IMAGES]
    return images, Predictor(run).predict_probabilities(images).astype(np.float32)


def _run_exporter(run: runs.Run, made: dict[str, Path], check: Path) -> dict[str, dict]:
    """Make and check every file in `made` in one child process (KERAS_BACKEND=tensorflow)."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    jobs = [item for format, path in made.items() for item in (format, str(path))]
    command = [sys.executable, "-m", "provador.work.export", str(run.path), str(check), *jobs]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    try:
        reports = json.loads(last)
    except json.JSONDecodeError:
        reason = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        reports = {format: {"error": reason} for format in made}
    for format in made:
        report = reports.get(format, {"error": "no report"})
        if "error" in report:
            raise ExportError(
                _("Exporting {run} to {format} failed: {reason}").format(
                    run=run.path, format=format, reason=report["error"]
                )
            )
    return reports


def _move_into_place(made: Path, target: Path) -> None:
    """Rename `made` to `target`, replacing an older export (a directory too: `_check_target`
    allowed only that) once the new one is whole. The old one waits in the scratch folder beside
    `made`, which is removed with it."""
    if target.is_dir() and not target.is_symlink():
        target.rename(made.parent / f"old-{target.name}")
        made.rename(target)
    else:
        os.replace(made, target)


def signature(run: runs.Run) -> dict:
    """What every exported file carries: classes, run, provador's version, and how to call it."""
    return {
        "classes": list(run.class_names),
        "run": run.name,
        "model_sha256": run.model_digest(),  # which model.keras this is: `serve --engine onnx` checks it
        "provador_version": __version__,
        "input": "uint8 pixels, shape [batch, 28, 28], 0 = background (as in Fashion-MNIST)",
        "output": "probabilities, shape [batch, classes], calibrated; mirror-averaged when the model was trained so",
    }


# --- the child process (KERAS_BACKEND=tensorflow) ---------------------------------------------------


def _answer_model(run: runs.Run):
    """A Keras model of provador's whole answer (`provador.work.answer.Answer`, as the Predictor
    gives it): uint8 in, calibrated probabilities out."""
    from keras import Input, Model, ops

    from provador.work.inference import Predictor

    predictor = Predictor(run)
    model = predictor.model_
    if predictor.answer.mirror:
        model = _without_augmentation(run, model, predictor.input_shape_)
    pixels = Input(predictor.input_shape_, dtype="uint8", name="pixels")
    probabilities = predictor.answer(model, ops.cast(pixels, "float32"))
    return Model(pixels, probabilities, name="provador"), predictor.input_shape_


def _without_augmentation(run: runs.Run, model, input_shape):
    """The same network without its training-only augmentation layers: at inference they pass
    images through, but Keras' RandomFlip still traces a random-number op into the graph, which
    ONNX has no operator for. Augmentation layers hold no weights, so the weights carry over."""
    from provador.core.models import build_model

    params = {**run.recipe.model_params, "augmentation": "none"}
    plain = build_model(run.recipe.model.architecture, input_shape=input_shape, num_classes=len(run.class_names),
                        **params)  # fmt: skip
    plain.set_weights(model.get_weights())
    return plain


def _export_and_verify(run: runs.Run, model, input_shape, format: str, made: Path, check: str) -> dict:
    from keras import InputSpec

    made.parent.mkdir(parents=True, exist_ok=True)
    spec = [InputSpec(shape=(None, *input_shape), dtype="uint8")]
    model.export(str(made), format=FORMATS[format].keras_format, input_signature=spec, verbose=False)
    meta = signature(run)
    FORMATS[format].write_signature(made, meta)

    with np.load(check) as saved:
        images, reference = saved["images"], saved["reference"]
    answer = FORMATS[format].runner(made)
    batched = np.concatenate([answer(images[i : i + 64]) for i in range(0, len(images), 64)])
    singles = np.concatenate([answer(images[i : i + 1]) for i in range(16)])
    difference = max(float(np.abs(batched - reference).max()), float(np.abs(singles - reference[:16]).max()))
    agreement = float((batched.argmax(axis=1) == reference.argmax(axis=1)).mean())
    return {"max_abs_difference": difference, "class_agreement": agreement, "batch_sizes": [1, 64]}


def _main(argv: list[str]) -> None:
    """argv: RUN CHECK.npz FORMAT PATH [FORMAT PATH …]; prints {format: report} as one JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    run_path, check, *jobs = argv
    reports = {}
    try:
        run = runs.Run(run_path)
        model, input_shape = _answer_model(run)
    except Exception as exc:  # noqa: BLE001 (reported to the parent, which raises ExportError)
        reports = {format: {"error": _reason(exc)} for format in jobs[::2]}
    else:
        for format, made in zip(jobs[::2], jobs[1::2]):
            try:
                reports[format] = _export_and_verify(run, model, input_shape, format, Path(made), check)
            except Exception as exc:  # noqa: BLE001 (as above)
                reports[format] = {"error": _reason(exc)}
    print(json.dumps(reports), flush=True)


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


if __name__ == "__main__":
    _main(sys.argv[1:])
