"""The HTTP API with FastAPI's TestClient: every route and every bad input."""

import io
import re
import struct
import zlib

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from provador.core.datasets import load_dataset
from provador.serve import Limits, create_app
from provador.work.inference import Predictor


@pytest.fixture(scope="module")
def served(tiny_run):
    run, data_dir = tiny_run
    app = create_app(run, limits=Limits(max_upload_bytes=200_000, max_images=4), data_dir=data_dir)
    with TestClient(app) as client:
        yield client, run, data_dir


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_health_and_model(served):
    client, run, _ = served
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    info = client.get("/v1/model").json()
    assert info["id"].startswith(run.name + ":") and info["classes"] == run.class_names
    assert info["recipe"]["model"]["architecture"] == "mlp"
    assert info["metrics"]["accuracy"] == run.metrics["test"]["accuracy"]
    assert info["limits"]["max_images"] == 4


def test_predict_files_matches_the_predictor(served):
    client, run, data_dir = served
    data = load_dataset("idx", data_dir, validation=50)
    files = [("file", (f"test{i}.png", png(data.x_test[i]), "image/png")) for i in range(3)]
    response = client.post("/v1/predict?top_k=2&include_input=true", files=files)
    assert response.status_code == 200
    body = response.json()
    expected = Predictor(run).predict(data.x_test[:3])
    assert [p["label"] for p in body["predictions"]] == [e.label for e in expected]
    first = body["predictions"][0]
    assert first["source"] == "test0.png" and len(first["top"]) == 2
    assert abs(sum(first["probabilities"].values()) - 1) < 1e-4
    seen = np.asarray(Image.open(io.BytesIO(__import__("base64").b64decode(first["input_png"]))))
    np.testing.assert_array_equal(seen, data.x_test[0])  # dataset-form images are used as they are


def test_a_photo_with_no_garment_is_flagged_with_a_reason(served):
    client, _, _ = served
    wall = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 190, 180)).save(wall, format="JPEG")
    for query in ("", "?top_k=2"):  # the lean path and FastAPI's route
        response = client.post("/v1/predict" + query, files=[("file", ("wall.jpg", wall.getvalue(), "image/jpeg"))])
        answer = response.json()["predictions"][0]
        assert response.status_code == 200 and answer["low_confidence"] is True
        assert answer["low_confidence_reason"].startswith("no garment stood out from the background")


def test_predict_json_arrays(served):
    client, run, data_dir = served
    data = load_dataset("idx", data_dir, validation=50)
    response = client.post("/v1/predict", json={"images": data.x_test[:2].tolist()})
    assert response.status_code == 200
    labels = [p["label"] for p in response.json()["predictions"]]
    assert labels == [p.label for p in Predictor(run).predict(data.x_test[:2])]


def test_random_sample_and_page_and_docs(served):
    client, run, _ = served
    sample = client.get("/v1/samples/random").json()
    assert sample["true_label"] in run.class_names and Image.open(
        io.BytesIO(__import__("base64").b64decode(sample["png"]))
    ).size == (28, 28)
    page = client.get("/")
    assert page.status_code == 200 and 'id="canvas"' in page.text and "/static/app.js" in page.text
    script, style = client.get("/static/app.js"), client.get("/static/style.css")
    assert script.status_code == 200 and style.status_code == 200
    for text in (page.text, script.text, style.text):  # works offline: nothing loaded from another host
        assert not re.search(r"""(src|href)=["']?(https?:)?//|@import|url\(["']?(https?:)?//""", text)
        assert 'fetch("http' not in text
    docs = client.get("/docs")  # Swagger UI from provador's own files, not a CDN
    assert docs.status_code == 200 and "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", docs.text) and "cdn" not in docs.text.lower()
    assert client.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert client.get("/redoc").status_code == 404  # FastAPI's ReDoc page loads from a CDN and Google Fonts
    assert "/v1/predict" in client.get("/openapi.json").json()["paths"]


def huge_png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10_000, 10_000, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, status, message",
    [
        ({"content": b"", "headers": {"content-type": "application/json"}}, 400, "body is empty"),
        ({"files": [("file", ("a.png", b"not an image at all", "image/png"))]}, 415, "not an image"),
        ({"files": [("file", ("a.png", png(np.zeros((300, 300), np.uint8) + 255)[:200], "image/png"))]}, 422, "truncated"),
        ({"files": [("file", ("bomb.png", huge_png(), "image/png"))]}, 413, "megapixels"),
        ({"files": [("file", ("big.bmp", b"BM" + bytes(300_000), "image/bmp"))]}, 413, "limit"),
        ({"files": [("file", (f"{i}.png", png(np.zeros((28, 28), np.uint8)), "image/png")) for i in range(5)]}, 413, "at most 4"),
        ({"files": [("other", ("a.png", png(np.zeros((28, 28), np.uint8)), "image/png"))]}, 400, "field named `file`"),
        ({"json": {"images": [[[0] * 28] * 27]}}, 422, "shape [1, 27, 28]"),
        ({"json": {"images": [[[0.5] * 28] * 28]}}, 422, "non-integer"),
        ({"json": {"images": [[[300] * 28] * 28]}}, 422, "outside 0-255"),
        ({"json": {"pictures": []}}, 422, "no `images` list"),
        ({"json": {"images": [np.zeros((28, 28), int).tolist()] * 5}}, 413, "at most 4"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "multipart/form-data"),
        # Hostile framing: a 300-character boundary and JSON 100,000 brackets deep were 500s.
        ({"content": b"--" + b"x" * 300 + b"--\r\n", "headers": {"content-type": "multipart/form-data; boundary=" + "x" * 300}}, 400, "boundary is 300 characters"),
        ({"content": b'{"images":' + b"[" * 90_000 + b"]" * 90_000 + b"}", "headers": {"content-type": "application/json"}}, 400, "nests more than 8"),
        ({"content": b"[" * 5_000 + b"]" * 5_000, "headers": {"content-type": "application/json"}}, 400, "nests more than 8"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("query", ["", "?top_k=3"], ids=["lean-path", "fastapi-route"])
def test_bad_input_gets_a_4xx_json_error(served, kwargs, status, message, query):
    client, _, _ = served
    response = client.post("/v1/predict" + query, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"] and response.json()["status"] == status
    assert response.headers["content-type"] == "application/json"
    assert client.get("/healthz").status_code == 200  # still serving


def test_lean_path_and_fastapi_route_answer_byte_for_byte_alike(served):
    client, _, data_dir = served
    files = [("file", ("shirt.png", png(load_dataset("idx", data_dir, validation=50).x_test[0]), "image/png"))]
    before = client.get("/v1/model").json()["batching"]["images"]
    lean, routed = client.post("/v1/predict", files=files), client.post("/v1/predict?top_k=3", files=files)
    assert lean.status_code == routed.status_code == 200
    assert lean.content == routed.content  # byte for byte: same answer, same JSON rendering
    assert lean.headers["content-length"] == str(len(lean.content))
    assert client.get("/v1/model").json()["batching"]["images"] == before + 2


def test_bad_query_parameter(served):
    client, _, _ = served
    response = client.post("/v1/predict?top_k=0", json={"images": [np.zeros((28, 28), int).tolist()]})
    assert response.status_code == 422 and "top_k" in response.json()["error"]


def test_concurrent_requests_all_succeed(served):
    from concurrent.futures import ThreadPoolExecutor

    client, _, _ = served
    before = client.get("/v1/model").json()["batching"]
    image = np.zeros((28, 28), int).tolist()
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: client.post("/v1/predict", json={"images": [image]}).status_code, range(64)))
    after = client.get("/v1/model").json()["batching"]
    assert codes == [200] * 64
    assert after["images"] - before["images"] == 64  # every image went through the batcher


def test_collect_keeps_a_photo_only_under_a_class_of_the_run_and_never_twice(tiny_run, tmp_path):
    run, data_dir = tiny_run
    folder = tmp_path / "collected"
    jpeg = io.BytesIO()
    Image.new("RGB", (90, 120), (30, 40, 50)).save(jpeg, "JPEG")
    photo = jpeg.getvalue()
    with TestClient(create_app(run, data_dir=data_dir, collect=folder)) as client:
        label = run.class_names[2]
        answer = client.post("/v1/collect", params={"label": label}, files={"file": ("a.jpg", photo)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["created"] is True and body["counts"][label] == 1 and sum(body["counts"].values()) == 1
        saved = folder / body["saved"]
        assert saved.parent == folder / label and saved.read_bytes() == photo and saved.suffix == ".jpg"
        again = client.post("/v1/collect", params={"label": label}, files={"file": ("b.jpg", photo)}).json()
        assert again["created"] is False and again["saved"] == body["saved"]
        for bad_label in ("../../etc", "Sneaker", "", label + "/x"):
            refused = client.post("/v1/collect", params={"label": bad_label}, files={"file": ("a.jpg", photo)})
            assert refused.status_code == 422 and "one of the model's classes" in refused.json()["error"]
        refused = client.post("/v1/collect", params={"label": label}, files={"file": ("n.jpg", b"not an image")})
        assert refused.status_code == 415 and "is not an image" in refused.json()["error"]
        refused = client.post("/v1/collect", params={"label": label},
                              files=[("file", ("a.jpg", photo)), ("file", ("b.jpg", photo))])  # fmt: skip
        assert refused.status_code == 400 and "exactly one image" in refused.json()["error"]
        assert client.get("/v1/collect").json()["counts"][label] == 1
        assert sorted(p.name for p in folder.rglob("*")) == sorted([label, saved.name])  # nothing else written
        assert 'data-lang="pt"' in client.get("/").text and '"collect": true' in client.get("/").text
    with TestClient(create_app(run, data_dir=data_dir)) as client:
        assert client.get("/v1/collect").status_code == 404 and '"collect": false' in client.get("/").text


@pytest.mark.parametrize("top_k", [1, 3, 5, 10])
def test_top_k_is_the_requests_own_from_one_to_ten(served, top_k):
    """top_k above the Predictor's default of 3 used to be cut to 3: the answer lists exactly top_k
    classes, most probable first."""
    client, _, _ = served
    answer = client.post(f"/v1/predict?top_k={top_k}", json={"images": [np.zeros((28, 28), int).tolist()]}).json()
    top = answer["predictions"][0]["top"]
    assert len(top) == top_k
    assert [entry["probability"] for entry in top] == sorted(
        answer["predictions"][0]["probabilities"].values(), reverse=True
    )[:top_k]


def test_the_openapi_document_describes_each_answer_as_the_server_sends_it(tiny_run, tmp_path):
    """/docs shows a schema for every answer and error; real answers fit those schemas exactly
    (extra fields are forbidden), so the document cannot drift from the server."""
    from provador.serve import schemas

    run, data_dir = tiny_run
    with TestClient(create_app(run, data_dir=data_dir, collect=tmp_path / "kept")) as client:
        document = client.get("/openapi.json").json()
        answers = {
            ("get", "/healthz"): "Health", ("get", "/v1/model"): "ModelInfo", ("post", "/v1/predict"): "Predictions",
            ("get", "/v1/collect"): "CollectCounts", ("post", "/v1/collect"): "Collected",
            ("get", "/v1/samples/random"): "Sample",
        }  # fmt: skip
        for (method, path), name in answers.items():
            operation = document["paths"][path][method]
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{name}"}, path
            assert name in document["components"]["schemas"]
        predict = document["paths"]["/v1/predict"]["post"]["responses"]
        assert {"400", "413", "415", "422", "503"} <= set(predict)
        assert predict["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}

        image = load_dataset("idx", data_dir, validation=50).x_test[0]
        schemas.Health.model_validate(client.get("/healthz").json())
        schemas.ModelInfo.model_validate(client.get("/v1/model").json())
        answer = client.post("/v1/predict", params={"include_input": "true"}, files={"file": ("a.png", png(image))})
        checked = schemas.Predictions.model_validate(answer.json())
        assert checked.predictions[0].input_png and len(checked.predictions[0].top) == 3
        schemas.Predictions.model_validate(client.post("/v1/predict", json={"images": [image.tolist()]}).json())
        schemas.Sample.model_validate(client.get("/v1/samples/random").json())
        label = run.class_names[0]
        kept = client.post("/v1/collect", params={"label": label}, files={"file": ("a.png", png(image))})
        schemas.Collected.model_validate(kept.json())
        schemas.CollectCounts.model_validate(client.get("/v1/collect").json())
        for refused in (client.post("/v1/predict", content=b"x", headers={"content-type": "text/plain"}),
                        client.post("/v1/predict", params={"top_k": 99}, json={"images": [image.tolist()]})):  # fmt: skip
            assert refused.status_code in (415, 422)
            schemas.ErrorBody.model_validate(refused.json())
