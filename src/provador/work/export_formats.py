"""The export formats provador writes, one entry each: adding a format is adding an entry here.

Light on purpose (no NumPy, no Keras): `provador export --help` lists the formats from it.
The code that makes and checks the files (`provador.work.export`) reads everything that differs
between formats from these entries.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provador.base.i18n import N_

SIGNATURE_FILE = "signature.json"  # classes, run, model hash, provador version: every export carries it


@dataclass(frozen=True)
class ExportFormat:
    name: str  # what `--format` takes
    file: str  # its default name in RUN/export/
    purpose: str  # what it is for (marked for translation)
    loader: str  # how to load it outside provador (`provador export --help`; snippets in docs/export.md)
    keras_format: str  # `keras.Model.export`'s name for it
    needs: tuple[tuple[str, str], ...]  # (module, pip package) besides Keras: `pip install 'provador[export]'`
    is_folder: bool = False  # a SavedModel is a directory
    folder_layout: frozenset[str] = frozenset()  # what such a directory may hold
    magic: bytes | None = None  # bytes 4-8 of the file, when the format has them
    signature_beside: bool = False  # the signature is a file beside the model (`model.signature.json`)
    runner: Callable[[Path], Callable] | None = None  # path -> (batch -> probabilities), in the format's runtime
    carry_signature: Callable[[Path, dict], None] | None = None  # writes it into the file (ONNX metadata)

    def signature_path(self, path: Path) -> Path:
        """Where an export at `path` keeps its signature, when not inside the file itself."""
        if self.is_folder:
            return path / SIGNATURE_FILE
        return path.with_name(f"{path.stem}.{SIGNATURE_FILE}")

    def write_signature(self, made: Path, meta: dict) -> None:
        """Put `meta` where this format carries it: in the file, in the folder, or beside it."""
        if self.carry_signature is not None:
            self.carry_signature(made, meta)
        elif self.is_folder:
            (made / SIGNATURE_FILE).write_text(json.dumps(meta, indent=2))
        else:
            (made.parent / SIGNATURE_FILE).write_text(json.dumps(meta, indent=2))


def _onnx_metadata(made: Path, meta: dict) -> None:
    import onnx

    graph = onnx.load(str(made))
    for key, value in meta.items():
        graph.metadata_props.add(key=key, value=json.dumps(value) if isinstance(value, list) else str(value))
    onnx.save(graph, str(made))


def _onnx_runner(path: Path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def _saved_model_runner(path: Path):
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda batch: next(iter(serve(tf.constant(batch)).values())).numpy()


def _litert_runner(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))

    def run_litert(batch):
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, list(batch.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, batch)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return run_litert


_TENSORFLOW = ("tensorflow", "tensorflow-cpu")
FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "onnx", "model.onnx", N_("ONNX Runtime on servers, in browsers (onnxruntime-web), C#, Java, C++"),
            "onnxruntime.InferenceSession(PATH)", "onnx",
            (_TENSORFLOW, ("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime")),
            runner=_onnx_runner, carry_signature=_onnx_metadata,
        ),
        ExportFormat(
            "saved-model", "saved_model", N_("TensorFlow Serving and TensorFlow programs"),
            'tf.saved_model.load(PATH).signatures["serving_default"]', "tf_saved_model", (_TENSORFLOW,),
            is_folder=True,
            folder_layout=frozenset({"saved_model.pb", "variables", "assets", "fingerprint.pb", SIGNATURE_FILE}),
            runner=_saved_model_runner,
        ),
        ExportFormat(
            "litert", "model.tflite", N_("phones and small devices (LiteRT, formerly TensorFlow Lite)"),
            "ai_edge_litert.interpreter.Interpreter(model_path=PATH)", "litert",
            (_TENSORFLOW, ("ai_edge_litert", "ai-edge-litert")), magic=b"TFL3", signature_beside=True,
            runner=_litert_runner,
        ),
    )
}  # fmt: skip
