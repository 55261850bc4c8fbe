"""The server under hostile and careless clients: big images, slow clients, SIGTERM, bad ports.

Real sockets against real uvicorn servers (in a thread, or `provador serve` in a process).
"""

from __future__ import annotations

import io
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import uvicorn
from PIL import Image, ImageDraw

from provador.core import photos
from provador.serve import Limits, create_app
from provador.serve.lifecycle import DrainingServer, timed_protocol


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def big_one_bit_png(side: int = 6300) -> bytes:
    """A few KB on the wire, 40 megapixels decoded: the request that used to block the server."""
    image = Image.new("1", (side, side), 1)
    ImageDraw.Draw(image).rectangle((side // 3, side // 4, 2 * side // 3, 3 * side // 4), fill=0)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def post(url: str, body: bytes, content_type: str, timeout: float = 30):
    request = urllib.request.Request(url, body, {"content-type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "provadortestboundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def live_server(tiny_run):
    """uvicorn in a thread with short client time-outs."""
    run, data_dir = tiny_run
    limits = Limits(header_seconds=1.0, body_seconds=1.5, max_upload_bytes=2_000_000)
    app = create_app(run, limits=limits, data_dir=data_dir)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", http=timed_protocol(1.0))
    server = DrainingServer(config, app.state.traffic, limits.drain_seconds)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(10)


def test_big_images_are_decoded_off_the_event_loop(live_server, monkeypatch):
    url, _ = live_server
    from provador.work.inference import Predictor

    threads = []
    original = Predictor.prepare_photo

    def spy(self, data, name):
        threads.append(threading.current_thread().name)
        return original(self, data, name)

    monkeypatch.setattr(Predictor, "prepare_photo", spy)
    data = big_one_bit_png()
    assert len(data) < 16 * 1024 and photos.declared_pixels(data) == 6300 * 6300
    status, _, body = post(f"{url}/v1/predict", *multipart("big.png", data))
    assert status == 200, body
    small = io.BytesIO()
    Image.new("L", (28, 28)).save(small, "PNG")
    assert post(f"{url}/v1/predict", *multipart("small.png", small.getvalue()))[0] == 200
    assert threads[0].startswith("provador-decode")  # the big one: a decoding thread
    assert not threads[1].startswith("provador-decode")  # the 28×28 one: at once, on the loop


@pytest.mark.slow
def test_a_40_megapixel_png_is_reduced_before_it_is_converted(tmp_path):
    """Peak memory of preparing the 1-bit 6300×6300 PNG, in a fresh process (it was ~340 MB more)."""
    path = tmp_path / "big.png"
    path.write_bytes(big_one_bit_png())
    script = (
        "import resource, sys; from provador.core import photos; data = open(sys.argv[1], 'rb').read();"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; photos.prepare(data);"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)"
    )
    grown_mb = int(subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True,
                                  check=True).stdout)  # fmt: skip
    assert grown_mb < 150  # the decoded 1-bit image (40 MB) and its grey copy, nothing at full size in RGB


def test_a_client_that_sends_its_headers_a_byte_at_a_time_is_cut_off(live_server):
    url, _ = live_server
    port = int(url.rsplit(":", 1)[1])
    slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"

    for i in range(4):  # one byte per connection every 0.4 s: never a whole request
        for conn in slow:
            conn.sendall(request[i : i + 1])
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            assert response.status == 200  # others are answered meanwhile
        time.sleep(0.4)
    answers = []
    for conn in slow:
        conn.settimeout(5)
        answers.append(conn.recv(100))
        conn.close()
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers[:2]


def test_a_body_that_trickles_gets_408(live_server):
    url, _ = live_server
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")  # fmt: skip
        conn.settimeout(10)
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408") and b"took over 1.5 s" in answer


@pytest.mark.slow
def test_sigterm_answers_requests_in_flight_refuses_new_ones_then_exits(tiny_run):
    run, data_dir = tiny_run
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "provador", "serve", str(run.path), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, server.stderr.read() if server.poll() else ""
            time.sleep(0.2)
    body = json.dumps({"images": [[[0] * 28] * 28]}).encode()
    in_flight = socket.create_connection(("127.0.0.1", port))
    in_flight.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10])  # fmt: skip
    time.sleep(0.3)
    server.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    status, headers, answer = post(f"{url}/v1/predict", body, "application/json", timeout=5)
    assert status == 503 and headers["Retry-After"] == "5" and b"shutting down" in answer
    in_flight.sendall(body[10:])
    in_flight.settimeout(10)
    reply = b""
    while b'"predictions"' not in reply and (chunk := in_flight.recv(65536)):
        reply += chunk
    in_flight.close()
    assert reply.startswith(b"HTTP/1.1 200") and b'"predictions"' in reply
    assert server.wait(timeout=15) == 0


def test_a_port_out_of_range_is_refused(tiny_run, capsys):
    from provador.cli import main

    run, _ = tiny_run
    with pytest.raises(SystemExit) as exited:
        main(["serve", str(run.path), "--port", "70000"])
    assert exited.value.code == 2
    assert "expected a TCP port from 1 to 65535, received '70000'" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "I;16"])
def test_big_images_of_every_mode_are_shrunk_and_prepared(mode):
    image = Image.new("L", (2200, 2000), 255)
    ImageDraw.Draw(image).rectangle((700, 500, 1500, 1500), fill=0)
    image = image.convert(mode) if mode != "I;16" else image.convert("I").point(lambda v: v * 256).convert("I;16")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    opened = photos.open_image(buffer.getvalue())
    assert max(photos._shrunk(opened, 320).size) < 700  # reduced in its own mode, before any conversion
    prepared = photos.prepare(buffer.getvalue())
    assert prepared.garment_found and prepared.pixels.shape == (28, 28)
    assert prepared.pixels[14, 14] > 200  # the dark square, negated, is the bright garment
