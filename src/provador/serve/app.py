"""The FastAPI application: an HTTP API and a web page over one Predictor.

The model is loaded once, in the app's lifespan, and every prediction goes
through a DynamicBatcher, so concurrent requests share model calls.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import contextvars
import gc
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from provador import __version__
from provador.base.choices import TOP_K
from provador.base.errors import ImageTooLarge, InputError, NotAnImage, ProvadorError
from provador.base.i18n import _, class_name, language_of
from provador.core import photos
from provador.records import runs
from provador.serve import schemas
from provador.serve.batching import DynamicBatcher
from provador.serve.collect import CollectError, PhotoCollector
from provador.serve.fastpath import PredictFastPath
from provador.serve.http import TOO_MANY, ApiError, error_content, read_limited
from provador.serve.language import COOKIE, RequestLanguage
from provador.serve.lifecycle import Draining, Traffic
from provador.serve.operations import Metrics, Operations, log
from provador.serve.page import render as render_page
from provador.serve.uploads import MalformedForm, file_parts
from provador.work.inference import Predictor, doubt_of

STATIC = Path(__file__).parent / "static"
# A small file that declares few pixels decodes in well under a millisecond: a thread hop would
# cost more. Anything else is decoded off the event loop, a few at a time.
_INLINE_DECODE_BYTES, _INLINE_DECODE_PIXELS = 16 * 1024, 256 * 256
# Photo decoding threads: each holds at most one decoded image (up to ~80 MB for a 40-megapixel
# PNG before it is reduced), so this bounds the server's memory as much as its CPU.
DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))
# The JSON the API takes nests 4 deep ({"images": [[[0, …]]]}); deeper is refused before parsing,
# so a body of 100,000 brackets costs a scan, not the parser's stack.
MAX_JSON_DEPTH = 8


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 10 * 1024 * 1024
    max_images: int = 32
    max_batch: int = 64
    window_ms: float = 0.5
    header_seconds: float = 10.0  # a request's headers must arrive within this
    body_seconds: float = 30.0  # and its body within this (10 MB at 3 Mbit/s)
    drain_seconds: float = 10.0  # on SIGTERM, requests in flight get this long to finish


def create_app(
    run: runs.Run | str | Path,
    limits: Limits = Limits(),
    data_dir: str | Path | None = None,
    engine: str = "keras",
    collect: str | Path | None = None,
    cors: list[str] | None = None,
    log_requests: bool = False,
) -> FastAPI:
    """The app for `run`; `engine="onnx"` answers with onnxruntime on the run's exported model;
    `collect` names a folder where the page's "this is a …" keeps labelled photos; `cors` lists
    the other origins whose pages may call the API; `log_requests` logs every request (refusals
    are always logged, to the `provador.serve` logger)."""
    run = runs.resolve_run(run)
    # Loaded now, not when the server starts: a model that cannot be used is a one-paragraph
    # error before anything listens, not a traceback and "Application startup failed".
    predictor = Predictor(run, engine=engine)
    try:
        collector = PhotoCollector(collect, predictor.class_names_) if collect is not None else None
    except OSError as exc:
        raise InputError(str(exc)) from None
    served = _Served(
        run, predictor, limits, data_dir, ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="provador-decode")
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        predictor.warm_up(limits.max_batch)
        served.batcher = DynamicBatcher(predictor.predict_probabilities, limits.max_batch, limits.window_ms)
        served.model_id = f"{run.name}:{run.model_digest()[:12]}" + (":onnx" if engine == "onnx" else "")
        served.info = _model_info(run, predictor, served.model_id, limits)  # read the run's files once
        served.metrics.served(served.model_id, served.batcher)
        log("started", model=served.model_id, engine=engine, max_batch=limits.max_batch, pid=os.getpid())
        # Keras and JAX leave millions of long-lived objects; a full garbage collection walking
        # them all paused every request in flight for ~200 ms (1% of requests under load).
        # Frozen, they are left out of collections; what requests allocate is still collected.
        gc.collect()
        gc.freeze()
        yield
        served.batcher.close()
        served.decoder.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="provador",
        version=__version__,
        summary="Fashion-MNIST classifier: predictions for photos of clothes and 28×28 images.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own /docs and /redoc load Swagger UI and ReDoc from a CDN
        redoc_url=None,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_docs(app)
    _add_error_handlers(app)
    _add_page_and_model(app, served, collector is not None)
    answer_predict = _add_predict(app, served)
    if collector is not None:
        _add_collect(app, served, collector)
    _add_samples(app, served)
    # Requests with the default parameters (nearly all) skip FastAPI's routing and dependency
    # machinery, which cost as much CPU as the prediction itself (bench/README.md).
    app.add_middleware(
        PredictFastPath, answer=answer_predict, max_body=limits.max_upload_bytes, body_seconds=limits.body_seconds
    )
    app.add_middleware(RequestLanguage)  # outside the lean path, so it answers in the language too
    if cors:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors), allow_methods=["GET", "POST"],
                           allow_headers=["*"], expose_headers=["X-Request-ID"], max_age=600)  # fmt: skip
    app.state.traffic = Traffic()
    app.add_middleware(Draining, traffic=app.state.traffic)
    app.state.metrics = served.metrics
    # Added last: outermost, it gives every request (a draining 503 too) its ID, its metrics and its log line.
    app.add_middleware(Operations, metrics=served.metrics, log_requests=log_requests)
    return app


@dataclass
class _Served:
    """What the routes share: the run, its Predictor and, once the app has started, the batcher."""

    run: runs.Run
    predictor: Predictor
    limits: Limits
    data_dir: str | Path | None
    decoder: ThreadPoolExecutor  # photo decoding off the event loop
    batcher: DynamicBatcher | None = None
    model_id: str = ""
    info: dict | None = None
    metrics: Metrics = field(default_factory=Metrics)
    test: tuple | None = None  # the test images, for /v1/samples/random, loaded on first use

    async def body(self, request: Request) -> bytes:
        return await read_limited(request.stream(), request.headers.get("content-length"),
                                  self.limits.max_upload_bytes, self.limits.body_seconds)  # fmt: skip


def _add_docs(app: FastAPI) -> None:
    """/docs: Swagger UI from provador's own static files (vendored from swagger-ui-dist), so the
    API docs work where the page does, with no network."""

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title="provador · API",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # its badge would ask validator.swagger.io
        )  # fmt: skip


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError):
        return Response(exc.body(), status_code=exc.status, media_type="application/json")  # as the lean path

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        message = _("Invalid request: {problems}.").format(problems=problems)
        return JSONResponse(error_content(message, 422), status_code=422)


def _add_page_and_model(app: FastAPI, served: _Served, collect: bool) -> None:
    @app.get("/", include_in_schema=False)
    def page(lang: str | None = None):
        response = HTMLResponse(render_page(served.predictor.class_names_, collect=collect))
        if language_of(lang):  # the switch's choice, remembered (app.js sets the same cookie)
            response.set_cookie(COOKIE, language_of(lang), max_age=365 * 24 * 3600, samesite="lax")
        return response

    @app.get("/healthz", summary="Liveness: 200 once the model is loaded", responses={200: {"model": schemas.Health}})
    def healthz():
        return {"status": "ok", "model": served.model_id}

    @app.get("/v1/model", summary="The served model: recipe, classes, test metrics, versions",
             responses={200: {"model": schemas.ModelInfo}})  # fmt: skip
    def model_info():
        batcher = served.batcher
        localized = {name: class_name(name) for name in served.info["classes"]}
        return {**served.info, "classes_localized": localized,
                "batching": {"batches": batcher.batches, "images": batcher.images}}  # fmt: skip


def _add_predict(app: FastAPI, served: _Served):
    """POST /v1/predict; returns its answer function, which the lean path calls too."""

    @app.post(
        "/v1/predict",
        summary="Classify one or several images",
        responses={200: {"model": schemas.Predictions}, **schemas.errors(400, 413, 415, 422, 503)},
        description=(
            "Send image files as multipart/form-data, each in a field named `file` (repeat the field for "
            "several), or JSON `{\"images\": [28×28 arrays of integers 0-255]}`. Photos of any size go "
            "through the photo pipeline: the garment is found on its background (and apart from a wearer), "
            "then made like a Fashion-MNIST image (crop, resize, sharpen, pad, negate, grayscale). An answer "
            "is `low_confidence` when no class reaches 50% or no garment stood out; `low_confidence_reason` says which."
        ),
        openapi_extra={"requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
            "application/json": {"schema": {"type": "object", "properties": {"images": {
                "type": "array", "items": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}}}}},
        }}},
    )  # fmt: skip
    async def predict(
        request: Request,
        top_k: int = Query(TOP_K, ge=1, le=10, description="how many classes to list per image"),
        include_input: bool = Query(False, description="return the 28×28 image the model saw, as PNG base64"),
        explain: bool = Query(False, description="return why: a heat map of the pixels the answer rests on"),
        explain_class: str | None = Query(None, description="with explain: why this class (one of the model's)"),
        explain_method: Literal["saliency", "gradcam"] = Query(
            "saliency", description="with explain: saliency (input × gradient) or gradcam (models with convolutions)"
        ),
    ):
        body = await served.body(request)
        answer = await answer_predict(body, request.headers.get("content-type", ""), top_k, include_input,
                                      explain, explain_class, explain_method)  # fmt: skip
        # A JSONResponse of plain types skips FastAPI's jsonable_encoder: a third of the request's CPU.
        return JSONResponse(answer)

    async def answer_predict(
        body: bytes, content_type: str, top_k: int = TOP_K, include_input: bool = False, explain: bool = False,
        explain_class: str | None = None, explain_method: str = "saliency",
    ) -> dict:  # fmt: skip
        """POST /v1/predict's answer for a body already read; ApiError for bad input."""
        predictor, limits = served.predictor, served.limits
        if explain_class is not None and explain_class not in predictor.class_names_:
            raise ApiError(
                422,
                _("Expected `explain_class` to be one of the model's classes ({classes}). Received: {value!r}").format(
                    classes=", ".join(predictor.class_names_), value=explain_class
                ),
            )
        if content_type.startswith("multipart/form-data"):
            names, images, reasons = await _images_from_form(content_type, body, predictor, limits, served.decoder)
        elif content_type.startswith("application/json"):
            names, images, reasons = _images_from_json(body, predictor, limits)
        else:
            raise ApiError(415, _("Expected multipart/form-data (image files in `file` fields) or application/json "
                                  "(`{example}`). Received content type {received!r}.").format(
                example='{"images": [...]}', received=content_type or "none"))  # fmt: skip
        probabilities = await served.batcher.predict(images)
        why = await _explanations(served, images, explain_class, explain_method) if explain else [None] * len(images)
        answers = []
        predictions = predictor.answers(probabilities, names, reasons=reasons, top_k=top_k)
        for pixels, prediction, heat in zip(images, predictions, why):
            answer = prediction.to_dict()
            answer.pop("true_label")
            # The request's language, in fields of their own: `label` and the rest stay canonical.
            answer["label_localized"] = class_name(answer["label"])
            why = answer["low_confidence_reason"]
            answer["low_confidence_reason_localized"] = _(why) if why else None
            if include_input:
                answer["input_png"] = base64.b64encode(photos.to_png(pixels)).decode("ascii")
            if heat is not None:
                answer["explanation"] = heat
            answers.append(answer)
        return {"model": served.model_id, "predictions": answers}

    return answer_predict


async def _explanations(served: _Served, images: list, class_name: str | None, method: str) -> list[dict]:
    """Each image's heat map (off the event loop: gradients take a few milliseconds an image)."""
    from provador.work.explain import overlay_png

    predictor = served.predictor
    if predictor.model_ is None:
        raise ApiError(422, _("Explanations need the keras engine: an ONNX export holds no gradients."))
    pixels = np.stack(images)
    try:
        explanation = await asyncio.get_running_loop().run_in_executor(
            served.decoder, contextvars.copy_context().run, predictor.explain, pixels, class_name, method
        )
    except InputError as exc:  # e.g. gradcam asked of a model without convolutions
        raise ApiError(422, str(exc)) from None
    answers = []
    for image, heat, index in zip(pixels, explanation.maps, explanation.classes):
        answers.append({
            "method": explanation.method, "class": predictor.class_names_[int(index)],
            "png": base64.b64encode(overlay_png(image, heat)).decode("ascii"),
            "map": np.round(heat, 3).tolist(),
        })  # fmt: skip
    return answers


def _add_collect(app: FastAPI, served: _Served, collector: PhotoCollector) -> None:
    @app.get("/v1/collect", summary="Photos collected so far, per class (serve --collect)",
             responses={200: {"model": schemas.CollectCounts}})  # fmt: skip
    def collected():
        return {"counts": collector.counts()}

    @app.post(
        "/v1/collect",
        summary="Keep a photo as an example of a class (serve --collect)",
        responses={200: {"model": schemas.Collected}, **schemas.errors(400, 413, 415, 422, 503, 507)},
        description="One image file in a multipart field named `file`; `label` is one of the model's classes. "
        "The photo is saved under the collection folder as `<class>/<content hash>.<format>` (never "
        "overwritten), for `provador adapt RUN --photos FOLDER`.",
    )
    async def collect_photo(request: Request, label: str = Query(..., description="the photo's class")):
        body = await served.body(request)
        try:
            uploads = file_parts(body, request.headers.get("content-type", ""), "file", max_parts=4)
        except MalformedForm as exc:
            raise ApiError(400, _("Could not parse the multipart form: {reason}.").format(reason=exc)) from None
        if len(uploads) != 1:
            raise ApiError(400, _("Expected exactly one image file in a form field named `file`; received {count}.")
                           .format(count=len(uploads)))  # fmt: skip
        try:
            path, created = await asyncio.get_running_loop().run_in_executor(
                served.decoder, contextvars.copy_context().run, collector.save, uploads[0].data, label
            )
        except CollectError as exc:
            raise ApiError(exc.status, str(exc)) from None
        except InputError as exc:
            status = 413 if isinstance(exc, ImageTooLarge) else 415 if isinstance(exc, NotAnImage) else 422
            raise ApiError(status, str(exc)) from None
        return {"saved": path, "created": created, "label": label, "counts": collector.counts()}


def _add_samples(app: FastAPI, served: _Served) -> None:
    @app.get("/v1/samples/random", summary="A random test image (for the web page), as PNG base64",
             responses={200: {"model": schemas.Sample}, **schemas.errors(503)})  # fmt: skip
    def random_sample():
        if served.test is None:
            from provador.core.datasets import dataset_for

            try:
                dataset = dataset_for(served.run.recipe, served.data_dir, progress=False)
            except ProvadorError as exc:
                raise ApiError(
                    503, _("The test images are not available on this server: {reason}").format(reason=exc)
                ) from None
            served.test = (dataset.x_test, dataset.y_test, dataset.class_names)
        images, labels, names = served.test
        index = int(np.random.default_rng().integers(len(images)))
        return {"index": index, "true_label": names[int(labels[index])],
                "png": base64.b64encode(photos.to_png(images[index])).decode("ascii")}  # fmt: skip


def _model_info(run: runs.Run, predictor: Predictor, model_id: str, limits: Limits) -> dict:
    metrics = run.run_metrics or runs.Metrics()
    test = metrics.test or runs.TestMetrics()
    return {
        "id": model_id,
        "run": run.name,
        "classes": predictor.class_names_,
        "input_shape": list(predictor.input_shape_),
        "recipe": run.recipe.model_dump(mode="json"),
        "metrics": {"accuracy": test.accuracy, "loss": test.loss, "images": test.images, "macro_f1": test.macro_f1},
        "backend": metrics.backend,
        "engine": predictor.engine,
        "versions": {"provador": __version__, **metrics.versions},
        "limits": {
            "max_upload_bytes": limits.max_upload_bytes,
            "max_images": limits.max_images,
            "max_pixels": photos.MAX_PIXELS,
        },  # fmt: skip
    }


async def _images_from_form(
    content_type: str, body: bytes, predictor: Predictor, limits: Limits, decoder: ThreadPoolExecutor
):
    try:
        # Room for one file too many (answered 413 below) and a few other fields.
        uploads = file_parts(body, content_type, "file", max_parts=limits.max_images + 16)
    except MalformedForm as exc:
        raise ApiError(400, _("Could not parse the multipart form: {reason}.").format(reason=exc)) from None
    if not uploads:
        raise ApiError(400, _("Expected at least one image file in a form field named `file`."))
    if len(uploads) > limits.max_images:
        raise ApiError(413, _(TOO_MANY).format(count=len(uploads), limit=limits.max_images))
    names, images, reasons = [], [], []
    for upload in uploads:
        data = upload.data
        name = upload.filename or "upload"
        try:
            pixels = photos.declared_pixels(data) if len(data) <= _INLINE_DECODE_BYTES else None
            if pixels is not None and pixels <= _INLINE_DECODE_PIXELS:
                prepared = predictor.prepare_photo(data, name)
            else:
                # With a copy of this request's context: its language, for the error messages.
                prepared = await asyncio.get_running_loop().run_in_executor(
                    decoder, contextvars.copy_context().run, predictor.prepare_photo, data, name
                )
        except InputError as exc:
            status = 413 if isinstance(exc, ImageTooLarge) else 415 if isinstance(exc, NotAnImage) else 422
            raise ApiError(status, str(exc)) from None
        names.append(name)
        images.append(prepared.pixels)
        reasons.append(doubt_of(prepared))
    return names, np.stack(images), reasons


def _images_from_json(body: bytes, predictor: Predictor, limits: Limits):
    height, width = predictor.input_shape_
    expected = _("Expected JSON {example} with a list of {height}×{width} arrays of integers 0-255").format(
        example='{"images": [...]}', height=height, width=width
    )
    if _json_depth(body) > MAX_JSON_DEPTH:
        raise ApiError(
            400, expected + _("; the body nests more than {depth} levels deep.").format(depth=MAX_JSON_DEPTH)
        )
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, expected + _("; the body is not valid JSON.")) from None
    raw = payload.get("images") if isinstance(payload, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ApiError(422, expected + _("; received no `images` list."))
    if len(raw) > limits.max_images:
        raise ApiError(413, _(TOO_MANY).format(count=len(raw), limit=limits.max_images))
    try:
        array = np.asarray(raw)
    except ValueError:
        raise ApiError(422, expected + _("; the arrays have uneven shapes.")) from None
    if array.shape[1:] != (height, width):
        raise ApiError(422, expected + _("; received shape {shape}.").format(shape=list(array.shape)))
    if array.dtype.kind not in "iu" or array.min() < 0 or array.max() > 255:
        kind = _("non-integer values") if array.dtype.kind not in "iu" else _("values outside 0-255")
        raise ApiError(422, expected + _("; received {kind} (dtype {dtype}).").format(kind=kind, dtype=array.dtype))
    return [f"images[{i}]" for i in range(len(array))], array.astype(np.uint8), [None] * len(array)


def _json_depth(body: bytes) -> int:
    """How deep the brackets of a JSON body nest (strings are not skipped: the API's JSON has
    brackets in none, so at worst a string with brackets reads as deeper than it is)."""
    raw = np.frombuffer(body, np.uint8)
    steps = (raw == ord("[")).astype(np.int32) + (raw == ord("{")) - (raw == ord("]")) - (raw == ord("}"))
    return int(np.cumsum(steps).max(initial=0))
