"""Predict class names and probabilities with a trained run."""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from provador.base._install import pip_install
from provador.base.choices import TOP_K
from provador.base.errors import InputError, RunError
from provador.base.i18n import N_, _
from provador.core import photos
from provador.records import runs
from provador.work.answer import Answer

# Below this top probability an answer is reported as a guess, with its top-3.
LOW_CONFIDENCE = 0.5
# Reasons in English (the API's canonical text); the CLI and the page show them translated.
NO_GARMENT = N_("no garment stood out from the background, so the model saw the whole photo")
LOW_PROBABILITY = N_("the top probability is under 50%")  # LOW_CONFIDENCE


@dataclass(frozen=True)
class Prediction:
    """One image's answer: the top class, its probability, the top-k and every probability."""

    source: str
    label: str
    class_index: int
    probability: float
    top: list[tuple[str, float]]
    probabilities: dict[str, float]
    true_label: str | None = None
    low_confidence: bool = False
    low_confidence_reason: str | None = None  # why the answer is unsure, in words

    def to_dict(self) -> dict:
        # Field by field, not dataclasses.asdict (which deep-copies): the server calls this per image.
        return {
            "source": self.source,
            "label": self.label,
            "class_index": self.class_index,
            "probability": self.probability,
            "top": [{"label": name, "probability": p} for name, p in self.top],
            "probabilities": dict(self.probabilities),
            "true_label": self.true_label,
            "low_confidence": self.low_confidence,
            "low_confidence_reason": self.low_confidence_reason,
        }


class Predictor:
    """A trained model plus its class names and its answer, loaded once and reused for every call.

    >>> predictor = Predictor("runs/seed-20260101-120000")
    >>> predictor.predict(images, top_k=3)      # uint8 array (N, 28, 28) or (28, 28)

    Probabilities are `provador.work.answer.Answer`'s: for a model trained with mirrored images, the
    average of each image's and its mirror's (a photographed shoe may point either way),
    calibrated with the run's temperature (fitted on the validation split at the end of
    training). A Predictor holds no per-call choice: many threads (the server's) share one.
    """

    def __init__(self, run: runs.Run | str | Path, steps: photos.Steps = photos.ALL_STEPS, engine: str = "keras"):
        """`engine="onnx"` answers with onnxruntime on the run's exported RUN/export/model.onnx
        (`provador export RUN`), which holds the same answer: model, mirror averaging, calibration."""
        self.run_ = runs.resolve_run(run)
        self.engine = engine
        if engine == "onnx":
            self.model_ = None
            self._session = _onnx_session(self.run_)
            self.input_shape_ = tuple(self._session.get_inputs()[0].shape[1:])
        elif engine == "keras":
            self.model_ = self.run_.load_model()
            self.input_shape_ = tuple(self.model_.input_shape[1:])
        else:
            raise InputError(_("Unknown engine {engine!r}: expected keras or onnx.").format(engine=engine))
        self.class_names_ = list(self.run_.class_names)
        self.steps = steps  # the photo pipeline's steps (all on unless a benchmark turns one off)
        metrics = self.run_.run_metrics
        calibration = metrics.calibration.model_dump() if metrics and metrics.calibration else None
        self.answer = Answer.for_recipe(self.run_.recipe.model_params, calibration)

    def predict_probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities, shape (N, classes), for raw uint8 images of the model's input size."""
        images = np.asarray(images)
        if images.shape == self.input_shape_:
            images = images[None]
        if images.shape[1:] != self.input_shape_:
            raise InputError(
                _("Expected images of shape {expected} with raw pixel values 0-255. Received shape {received}.").format(
                    expected=f"(N, {', '.join(map(str, self.input_shape_))})", received=images.shape
                )
            )
        if not len(images):
            return np.zeros((0, len(self.class_names_)))
        return self.answer.probabilities(self._forward, images)

    @functools.cached_property
    def _forward(self):
        """The whole answer as one compiled call (the ONNX file holds it already)."""
        if self.engine == "onnx":
            session, name = self._session, self._session.get_inputs()[0].name
            return lambda x: session.run(None, {name: x.astype(np.uint8)})[0]
        return self.answer.compiled(self.model_)

    def warm_up(self, max_batch: int = 64) -> None:
        """Compile every batch shape up to `max_batch` now, not on the first requests."""
        size = 1
        while size <= max_batch:
            self.predict_probabilities(np.zeros((size, *self.input_shape_), np.uint8))
            size *= 2

    def predict(
        self,
        images: np.ndarray,
        sources: list[str] | None = None,
        labels=None,
        reasons: list | None = None,
        top_k: int = TOP_K,
    ) -> list[Prediction]:
        """Predictions for raw uint8 images; `reasons` (one per image, or None) marks answers as unsure."""
        return self.answers(self.predict_probabilities(images), sources, labels, reasons, top_k)

    def answers(
        self,
        probabilities: np.ndarray,
        sources: list[str] | None = None,
        labels=None,
        reasons: list | None = None,
        top_k: int = TOP_K,
    ) -> list[Prediction]:
        """Name the classes of rows of probabilities (what `predict` and the server share)."""
        sources = sources or [f"image {i}" for i in range(len(probabilities))]
        reasons = reasons or [None] * len(probabilities)
        return [
            self.prediction_from(
                p, src, None if labels is None else self.class_names_[int(labels[i])], reasons[i], top_k
            )
            for i, (p, src) in enumerate(zip(probabilities, sources))
        ]

    def predict_files(
        self,
        paths: list[str | Path],
        show_input: str | Path | None = None,
        *,
        errors: list[tuple[str, str]] | None = None,
        progress: bool = False,
        top_k: int = TOP_K,
        explain: str | Path | None = None,
        explain_class: str | None = None,
        explain_method: str | None = None,
    ) -> list[Prediction]:
        """Predict image files of any size and format, through the photo pipeline.

        A folder stands for every image file under it (searched recursively, in name order).
        `show_input` names a folder where the 28×28 image the model saw is saved for each file,
        as `<name>.input.png`, in the subfolders the files have below the folder that holds
        them all (so `a/shirt.jpg` and `b/shirt.jpg` become `a/shirt.input.png` and
        `b/shirt.input.png`). When `errors` is a list, a file that cannot be read is
        appended to it as (path, message) and skipped; otherwise the first such file raises.
        `progress` writes a counter to standard error while photos are prepared (on a terminal
        it rewrites one line; into a file or pipe only the last count). `explain` names a folder
        where `<name>.why.png` shows, for each file, what the model saw beside the heat map of why
        it answered so (for `explain_class` instead of the answer when given).
        """
        files = expand_image_paths(paths)
        prepared, kept = [], []
        on_terminal = progress and sys.stderr.isatty()
        for done, path in enumerate(files, 1):
            try:
                prepared.append(self.prepare_photo(path))
                kept.append(path)
            except InputError as exc:
                if errors is None:
                    raise
                errors.append((str(path), str(exc)))
            if progress and (on_terminal or done == len(files)):
                print("\r" + _("Preparing photos: {done}/{total}").format(done=done, total=len(files)),
                      end="\n" if done == len(files) else "", file=sys.stderr, flush=True)  # fmt: skip
        common = Path(os.path.commonpath([p.resolve().parent for p in files])) if files else Path()

        def beside(folder, path: Path, suffix: str) -> Path:
            target = Path(folder) / path.resolve().relative_to(common).with_suffix(suffix)
            target.parent.mkdir(parents=True, exist_ok=True)
            return target

        if show_input is not None:
            for path, image in zip(kept, prepared):
                beside(show_input, path, ".input.png").write_bytes(photos.to_png(image.pixels))
        if not prepared:
            return []
        pixels = np.stack([p.pixels for p in prepared])
        predictions = self.predict(
            pixels, sources=[str(p) for p in kept], reasons=[doubt_of(p) for p in prepared], top_k=top_k
        )
        if explain is not None:
            targets = [beside(explain, path, ".why.png") for path in kept]
            self.write_explanations(pixels, targets, explain_class, explain_method)
        return predictions

    def explain(self, images: np.ndarray, class_name: str | None = None, method: str | None = None):
        """Heat maps of raw uint8 images for their predicted class, or for `class_name` (see
        `provador.work.explain`); the Keras engine only (an ONNX file holds no gradients)."""
        from provador.work.explain import explain

        if self.model_ is None:
            raise InputError(_("Explanations need the keras engine: an ONNX export holds no gradients."))
        classes = None
        if class_name is not None:
            if class_name not in self.class_names_:
                raise InputError(
                    _("Expected a class of this run ({classes}). Received: {value!r}").format(
                        classes=", ".join(self.class_names_), value=class_name)
                )  # fmt: skip
            classes = self.class_names_.index(class_name)
        return explain(self.model_, images, classes, method)

    def write_explanations(
        self, images: np.ndarray, targets: list[Path], class_name: str | None = None, method: str | None = None
    ) -> None:
        """For each image, what the model saw beside why (its heat map), as a PNG at its target."""
        from provador.work.explain import explanation_png

        explanation = self.explain(images, class_name, method)
        for pixels, heat, target in zip(images, explanation.maps, targets):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_bytes(explanation_png(pixels, heat))

    def prepare_photo(self, source: str | Path | bytes, name: str | None = None) -> photos.PreparedImage:
        """The model's input for an image file or bytes, and what the pipeline found (see `provador.core.photos`)."""
        if self.input_shape_ != (photos.SIZE, photos.SIZE):
            raise InputError(
                _(
                    "Photos are turned into {size}×{size} images, but this model expects {shape}. Pass arrays of that "
                    "shape instead."
                ).format(size=photos.SIZE, shape=self.input_shape_)
            )
        return photos.prepare(source, name, self.steps)

    def prepare(self, source: str | Path | bytes, name: str | None = None) -> np.ndarray:
        """The model's 28×28 input for an image file or bytes."""
        return self.prepare_photo(source, name).pixels

    def prediction_from(
        self,
        probabilities: np.ndarray,
        source: str,
        true_label: str | None = None,
        reason: str | None = None,
        top_k: int = TOP_K,
    ) -> Prediction:
        """Name the classes of one row of probabilities: the top one, the `top_k`, all of them.

        The answer is unsure when its probability is under LOW_CONFIDENCE or when `reason` says
        why the input is doubtful (e.g. no garment was found in the photo)."""
        values = probabilities.tolist()  # plain floats: sorting ten of them beats NumPy's call overhead
        order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
        best = order[0]
        return Prediction(
            source=source,
            label=self.class_names_[best],
            class_index=best,
            probability=values[best],
            top=[(self.class_names_[i], values[i]) for i in order[:top_k]],
            probabilities=dict(zip(self.class_names_, values)),
            true_label=true_label,
            low_confidence=values[best] < LOW_CONFIDENCE or reason is not None,
            low_confidence_reason=reason or (LOW_PROBABILITY if values[best] < LOW_CONFIDENCE else None),
        )


def doubt_of(prepared: photos.PreparedImage) -> str | None:
    """Why a prepared photo's answer is unsure before the model sees it (no garment found), or None."""
    return None if prepared.garment_found else NO_GARMENT


IMAGE_SUFFIXES = photos.IMAGE_SUFFIXES


def _onnx_session(run: runs.Run):
    """onnxruntime on RUN/export/model.onnx, once the file is shown to be this run's export and
    to answer sanely: a file from elsewhere, one exported from another model.keras, or one whose
    answers have the wrong shape or are not probabilities is refused before it serves anything."""
    path = run.path / runs.EXPORT_DIR / runs.ONNX_FILE
    if not path.is_file():
        raise RunError(
            _("Run {run} has no {path}: export it first with `provador export {run}`.").format(run=run.path, path=path)
        )
    try:
        import onnxruntime
    except ImportError:
        raise RunError(_("The onnx engine needs onnxruntime: {command}").format(command=pip_install("onnx"))) from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own error types
        raise RunError(_("Cannot load {path}: {reason}. Export the run again.").format(path=path, reason=exc)) from None
    _check_onnx_export(run, path, session)
    return session


def _check_onnx_export(run: runs.Run, path: Path, session) -> None:
    again = _("Export the run again: `provador export {run}`.").format(run=run.path)
    recorded = session.get_modelmeta().custom_metadata_map.get("model_sha256")
    if recorded != run.model_digest():
        raise RunError(
            _("{path} was not exported from this run's model.keras (its record names {recorded}). {again}").format(
                path=path, recorded=recorded or _("no model"), again=again)
        )  # fmt: skip
    inputs, classes = session.get_inputs(), len(run.class_names)
    shape = tuple(inputs[0].shape[1:]) if len(inputs) == 1 else ()
    if len(shape) != 2 or not all(isinstance(n, int) and 0 < n <= 1024 for n in shape):
        raise RunError(
            _("{path} takes {inputs}: expected one input of uint8 images [batch, height, width]. {again}").format(
                path=path, inputs=[tuple(i.shape) for i in inputs], again=again)
        )  # fmt: skip
    # A probe batch: blank, bright and noisy images must give one row of probabilities each.
    probe = np.stack([np.zeros(shape), np.full(shape, 255), np.random.default_rng(0).integers(0, 256, shape)])
    try:
        answer = np.asarray(session.run(None, {inputs[0].name: probe.astype(np.uint8)})[0], dtype=np.float64)
    except Exception as exc:  # noqa: BLE001 (onnxruntime's own error types)
        raise RunError(
            _("{path} fails on a probe batch: {reason}. {again}").format(path=path, reason=exc, again=again)
        ) from None
    if (answer.shape != (len(probe), classes) or not np.isfinite(answer).all() or (answer < 0).any()
            or not np.allclose(answer.sum(axis=1), 1.0, atol=1e-3)):  # fmt: skip
        raise RunError(
            _("{path} does not answer with probabilities for the run's {classes} classes (a probe batch gave shape "
              "{shape}). {again}").format(path=path, classes=classes, shape=answer.shape, again=again)
        )  # fmt: skip


def expand_image_paths(paths: list[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the image files under them, recursively, in name order."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            if not found:
                raise InputError(
                    _("Folder {path} holds no image files (looked for {suffixes}, in subfolders too).").format(
                        path=path, suffixes=", ".join(IMAGE_SUFFIXES)
                    )
                )
            files += found
        else:
            files.append(path)
    return files


def parse_indices(spec: str, size: int) -> list[int]:
    """Parse `0:5`, `7`, `1,4,9` or `9990:` into indices, checking they are below `size`."""
    indices: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        try:
            if ":" in part:
                start, _sep, stop = part.partition(":")
                first = int(start) if start else 0
                last = int(stop) if stop else size
                if first >= last:
                    raise ValueError
                indices.extend(range(first, last))
            else:
                indices.append(int(part))
        except ValueError:
            raise InputError(
                _("Expected test indices like 0:5, 7 or 1,4,9. Received: {value!r}").format(value=spec)
            ) from None
    bad = [i for i in indices if not 0 <= i < size]
    if bad:
        raise InputError(
            _(
                "Test index {index} is out of range: the test set has {size} images, so indices run from 0 to {last}."
            ).format(index=bad[0], size=size, last=size - 1)
        )
    return indices
