"""End to end in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium)."""

import socket
import threading
import time

import numpy as np
import pytest
from PIL import Image

from provador.core.datasets import load_dataset
from provador.work.inference import Predictor
from tests.conftest import chromium

pytestmark = [
    pytest.mark.slow,  # headless Chromium against a live server
    pytest.mark.xdist_group("browser"),  # one Chromium and one server, on one worker (`--dist loadgroup`)
]


def _serving(app):
    """Serve `app` on a free port in a thread; yields its URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(tiny_run):
    from provador.serve import create_app

    run, data_dir = tiny_run
    for url in _serving(create_app(run, data_dir=data_dir)):
        yield url, run, data_dir


@pytest.fixture(scope="module")
def collecting_server(tiny_run, tmp_path_factory):
    from provador.serve import create_app

    run, data_dir = tiny_run
    folder = tmp_path_factory.mktemp("collected")
    for url in _serving(create_app(run, data_dir=data_dir, collect=folder)):
        yield url, run, folder


@pytest.fixture(scope="module")
def browser():
    driver = chromium()
    yield driver
    driver.quit()


def wait_for(predicate, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for the page")


@pytest.fixture(scope="module")
def offline_browser():
    """Chromium that can reach this machine only (every other host name fails to resolve), and
    that records every request the page makes."""
    driver = chromium("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", log_requests=True)
    yield driver
    driver.quit()


def test_the_api_docs_render_their_operations_offline(server, offline_browser):
    import json

    from selenium.webdriver.common.by import By

    url, _, _ = server
    offline_browser.get(url + "/docs")
    operations = wait_for(lambda: offline_browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
    paths = {element.text.replace("\u200b", "") for element in operations}
    assert {"/v1/predict", "/v1/model", "/healthz"} <= paths, paths
    requested = [
        json.loads(entry["message"])["message"]["params"]["request"]["url"]
        for entry in offline_browser.get_log("performance")
        if '"Network.requestWillBeSent"' in entry["message"]
    ]
    assert any(u.endswith("/openapi.json") for u in requested) and any("swagger-ui-bundle.js" in u for u in requested)
    outside = [u for u in requested if not u.startswith((url, "data:"))]
    assert not outside, outside


def test_upload_through_the_page_shows_the_models_label(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, run, data_dir = server
    data = load_dataset("idx", data_dir, validation=50)
    # A "product photo" of test image 4: dark on white, larger, off-centre.
    photo = Image.new("RGB", (300, 240), "white")
    photo.paste(Image.fromarray(255 - data.x_test[4]).resize((168, 168)).convert("RGB"), (90, 30))
    path = tmp_path / "shirt.jpg"
    photo.save(path, quality=92)
    expected = Predictor(run).predict_files([path])[0]

    browser.get(url + "/")
    wait_for(lambda: "Model " in browser.find_element(By.ID, "model-line").text)
    browser.find_element(By.ID, "file").send_keys(str(path))
    label = wait_for(lambda: browser.find_element(By.ID, "label").text)
    assert label == expected.label
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars li")
    assert len(bars) == 10
    assert browser.find_element(By.ID, "model-input").get_attribute("src").startswith("data:image/png;base64,")
    why = browser.find_element(By.ID, "why")  # the heat map of why, over what the model saw
    shown = wait_for(lambda: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", why))
    assert shown == 224 and why.is_displayed()
    assert "why?" in browser.find_element(By.CSS_SELECTOR, "#result .images").text
    browser.save_screenshot(str(tmp_path / "page.png"))
    assert np.asarray(Image.open(tmp_path / "page.png")).std() > 10  # something was drawn


def test_a_file_that_is_not_an_image_shows_a_readable_error(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, _, _ = server
    path = tmp_path / "notes.png"
    path.write_text("this is not an image")
    browser.get(url + "/")
    wait_for(lambda: "Model " in browser.find_element(By.ID, "model-line").text)
    browser.find_element(By.ID, "file").send_keys(str(path))
    error = wait_for(lambda: browser.find_element(By.ID, "error").text)
    assert "notes.png is not an image" in error


def test_a_photo_with_no_garment_says_why_the_answer_is_unsure(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    url, _, _ = server
    path = tmp_path / "wall.jpg"
    Image.new("RGB", (320, 240), (200, 190, 180)).save(path)
    browser.get(url + "/")
    wait_for(lambda: "Model " in browser.find_element(By.ID, "model-line").text)
    browser.find_element(By.ID, "file").send_keys(str(path))
    note = wait_for(lambda: browser.find_element(By.ID, "confidence-note").text)
    assert note.startswith("Not sure: no garment stood out from the background")


def test_the_classroom_loop_keeps_a_labelled_photo_for_adapt(collecting_server, browser, tmp_path):
    """serve --collect: under the answer, "this is a …" keeps the photo as DIR/<class>/<hash>.jpg,
    once, and the page counts the photos of each class."""
    from selenium.webdriver.common.by import By

    from provador.core.photo_folders import read_photo_folders

    url, run, folder = collecting_server
    path = tmp_path / "my-shirt.jpg"
    photo = Image.new("RGB", (240, 300), "white")
    photo.paste(Image.new("RGB", (120, 180), (40, 60, 90)), (60, 60))
    photo.save(path, quality=90)
    browser.get(url + "/")
    wait_for(lambda: "Model " in browser.find_element(By.ID, "model-line").text)
    assert browser.find_element(By.ID, "camera").get_attribute("capture") == "environment"
    browser.find_element(By.ID, "file").send_keys(str(path))
    buttons = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#collect-buttons button"))
    assert [b.text for b in buttons] == [f"{name} (0)" for name in run.class_names]
    buttons[3].click()
    status = wait_for(lambda: browser.find_element(By.ID, "collect-status").text)
    assert status == f"Kept as {run.class_names[3]}: 1 photos of it so far."
    (kept,) = (folder / run.class_names[3]).iterdir()
    assert kept.suffix == ".jpg" and kept.read_bytes() == path.read_bytes()
    assert browser.find_elements(By.CSS_SELECTOR, "#collect-buttons button")[3].text == f"{run.class_names[3]} (1)"
    browser.find_elements(By.CSS_SELECTOR, "#collect-buttons button")[3].click()
    wait_for(lambda: browser.find_element(By.ID, "collect-status").text.startswith("Already kept"))
    assert len(list((folder / run.class_names[3]).iterdir())) == 1  # never written twice
    found = read_photo_folders([folder], run.class_names)
    assert found.per_class()[run.class_names[3]] == 1 and not found.skipped
