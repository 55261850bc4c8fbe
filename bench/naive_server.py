"""The naive way to serve a Keras model: FastAPI calling `model.predict` for every request.

The baseline of bench/load_serve.py. Same preprocessing as provador (so only
the serving strategy differs): one request, one `model.predict` call.
    python bench/naive_server.py RUN --port 8001
"""

import argparse
import os
import threading

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, UploadFile  # noqa: E402

from provador.core import photos  # noqa: E402
from provador.records.runs import Run  # noqa: E402


def make_app(run_dir: str) -> FastAPI:
    run = Run(run_dir)
    model = keras.saving.load_model(run.model_path, compile=False)
    classes = run.class_names
    # Keras' predict is not safe to call from several threads at once (FastAPI runs plain
    # `def` endpoints in a thread pool): on JAX concurrent calls corrupt the model's state
    # ("'NoneType' object is not callable"). A lock is the least a working naive server needs.
    lock = threading.Lock()
    app = FastAPI()

    @app.post("/v1/predict")
    def predict(file: UploadFile):
        pixels = photos.prepare(file.file.read(), file.filename).pixels
        with lock:
            probabilities = model.predict(pixels[None].astype("float32"), verbose=0)[0]
        best = int(np.argmax(probabilities))
        return {"predictions": [{"label": classes[best], "probability": float(probabilities[best])}]}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("run")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(make_app(args.run), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
