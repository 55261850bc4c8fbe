"""What each route answers, as the OpenAPI document (and so /docs) shows it.

The routes build their answers as plain dicts (the lean path skips FastAPI's encoder: a third of
a request's CPU), so these models document the answers rather than validate them on every
request; tests/serve checks real answers against them (extra fields forbidden), so the
document cannot drift from what the server sends.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Answer):
    error: str = Field(description="what was expected, what was received, how to fix it; in the request's language")
    status: int = Field(description="the HTTP status, repeated")
    request_id: str = Field(description="the X-Request-ID of the request (its log line has it too)")


class Health(_Answer):
    status: str = Field(examples=["ok"])
    model: str = Field(description="the served model's id: its run and the first digits of its hash")


class ClassScore(_Answer):
    label: str
    probability: float


class Why(_Answer):
    method: str = Field(description="gradcam (models with convolutions) or saliency (the MLP)")
    class_: str = Field(alias="class", description="the class explained: the answer, or explain_class")
    png: str = Field(description="the 28×28 image the model saw, enlarged, with the heat map over it: PNG base64")
    map: list[list[float]] = Field(description="the heat map, 28×28, from 0 to 1 (1: what the answer rests on most)")


class ImageAnswer(_Answer):
    source: str = Field(description="the file's name, or `images[i]` for JSON")
    label: str = Field(description="the top class, as the run names it")
    label_localized: str = Field(description="the top class in the request's language")
    class_index: int
    probability: float = Field(description="the top class's calibrated probability")
    top: list[ClassScore] = Field(description="the top_k classes, most probable first")
    probabilities: dict[str, float] = Field(description="every class's probability")
    low_confidence: bool = Field(description="no class reaches 50%, or no garment stood out on the photo")
    low_confidence_reason: str | None = None
    low_confidence_reason_localized: str | None = None
    input_png: str | None = Field(None, description="with include_input: the 28×28 image the model saw, PNG base64")
    explanation: Why | None = Field(None, description="with explain: why it answered so")


class Predictions(_Answer):
    model: str
    predictions: list[ImageAnswer]


class ModelMetrics(_Answer):
    accuracy: float | None
    loss: float | None
    images: int | None
    macro_f1: float | None


class ModelLimits(_Answer):
    max_upload_bytes: int
    max_images: int
    max_pixels: int


class Batching(_Answer):
    batches: int = Field(description="batches the model has run since the server started")
    images: int


class ModelInfo(_Answer):
    id: str
    run: str
    classes: list[str]
    classes_localized: dict[str, str]
    input_shape: list[int]
    recipe: dict = Field(description="the run's resolved recipe (recipe.toml)")
    metrics: ModelMetrics = Field(description="the run's test metrics")
    backend: str | None
    engine: str = Field(description="keras, or onnx (serve --engine onnx)")
    versions: dict[str, str]
    limits: ModelLimits
    batching: Batching


class CollectCounts(_Answer):
    counts: dict[str, int] = Field(description="photos kept per class")


class Collected(_Answer):
    saved: str = Field(description="where the photo is, inside the collection folder: <class>/<hash>.<format>")
    created: bool = Field(description="false when the same photo was kept before")
    label: str
    counts: dict[str, int]


class Sample(_Answer):
    index: int = Field(description="its index in the test set")
    true_label: str
    png: str = Field(description="the 28×28 test image, PNG base64")


def errors(*statuses: int) -> dict:
    """The error answers of a route, for its `responses=`."""
    return {status: {"model": ErrorBody} for status in statuses}
