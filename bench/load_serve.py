"""Load test: provador's server against a naive FastAPI endpoint, same model, same machine.

Both servers run as subprocesses on 127.0.0.1 (loopback only). A light asyncio
HTTP/1.1 client sends single-image PNG uploads from 1, 8 and 32 concurrent
clients, each level bounded by a request count and a time limit, and prints
requests per second, p50/p99 latency and errors. Then it times the Predictor
in-process on single images.

    python bench/load_serve.py [RUN] [--requests 1500] [--seconds 20]
    python bench/load_serve.py [RUN] --engines     # provador's Keras engine against its ONNX engine
    python bench/load_serve.py [RUN] --against DIR [--rounds 3]   # this tree's server against DIR's
      (DIR: a checkout of an earlier commit, e.g. `git worktree add /tmp/before HEAD~3`), the two
      alternated round by round so that a drift in the machine's load hits both
Without RUN it trains a quick MLP (a few seconds) into a temporary folder. `--engines` exports the
run to ONNX first when it has no RUN/export/model.onnx.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "jax")
HERE = Path(__file__).parent
LEVELS = (1, 8, 32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def multipart_request(port: int, png: bytes) -> bytes:
    boundary = "provadorbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> bytes:
    """Read one HTTP/1.1 response (headers and a Content-Length body); returns its status line."""
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status_line


async def one_client(port: int, request: bytes, stop_at: float, budget: list, latencies: list, errors: list):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.perf_counter() < stop_at:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            status_line = await read_response(reader)
            latencies.append(time.perf_counter() - start)
            if b" 200 " not in status_line:
                errors.append(status_line)
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        errors.append(repr(exc))
    finally:
        writer.close()


async def load(port: int, request: bytes, clients: int, requests: int, seconds: float) -> dict:
    latencies, errors, budget = [], [], [requests]
    start = time.perf_counter()
    await asyncio.gather(
        *(one_client(port, request, start + seconds, budget, latencies, errors) for _ in range(clients))
    )
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(latencies), "rps": len(latencies) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "errors": len(errors)}  # fmt: skip


def start(command: list[str], port: int, log: Path, env: dict | None = None) -> subprocess.Popen:
    # The server's output goes to a file: a pipe nobody reads could fill up and stall it.
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("wb"), env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(log.read_text()[-2000:]) from None
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server on port {port} did not start")


def quick_run(folder: str) -> str:
    from provador.work.training import train

    run = train("seed", runs_dir=folder, quiet=True, overrides={
        "training.epochs": 2, "training.optimizer": "adam", "training.learning_rate": 0.002, "training.batch_size": 256})  # fmt: skip
    return str(run.path)


def predictor_latency(run_dir: str, repeats: int = 3000, engine: str = "keras") -> float:
    from provador.work.inference import Predictor

    predictor = Predictor(run_dir, engine=engine)
    predictor.warm_up(1)
    image = np.zeros((1, 28, 28), np.uint8)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        predictor.predict_probabilities(image)
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000)


def compare_checkouts(args) -> None:
    """This tree's `provador serve` against DIR's, the same run and load, alternated by rounds."""
    from PIL import Image

    from provador.core.datasets import load_dataset

    scratch = tempfile.mkdtemp(prefix="provador-bench-")
    run_dir = args.run or quick_run(scratch)
    buffer = io.BytesIO()
    Image.fromarray(load_dataset().x_test[0]).save(buffer, format="PNG")
    png = buffer.getvalue()
    here = str(Path(__file__).resolve().parents[1] / "src")
    trees = {"before": str(Path(args.against).resolve() / "src"), "now": here}
    rps: dict[str, dict[int, list[float]]] = {name: {c: [] for c in LEVELS} for name in trees}
    p99: dict[str, dict[int, list[float]]] = {name: {c: [] for c in LEVELS} for name in trees}
    for round_ in range(args.rounds):
        for name, src in trees.items():
            port = free_port()
            env = {**os.environ, "PYTHONPATH": src}
            command = [sys.executable, "-m", "provador", "serve", run_dir, "--port", str(port)]
            process = start(command, port, Path(scratch) / f"{name}-{round_}.log", env)
            try:
                request = multipart_request(port, png)
                asyncio.run(load(port, request, 4, 50, 10))  # warm up
                for clients in LEVELS:
                    result = asyncio.run(load(port, request, clients, args.requests, args.seconds))
                    rps[name][clients].append(result["rps"])
                    p99[name][clients].append(result["p99_ms"])
                    print(f"round {round_ + 1} {name}: {clients} clients {result['rps']:.0f} req/s", file=sys.stderr)
            finally:
                process.terminate()
                process.wait(timeout=10)
    print(f"run: {run_dir}\nbefore: {trees['before']}\nsingle-image PNG uploads, loopback, {args.rounds} rounds "
          f"alternated, {args.requests} requests or {args.seconds:g} s per level; medians over rounds\n")  # fmt: skip
    print(f"{'clients':>7} {'before req/s':>13} {'now req/s':>10} {'now/before':>11} {'before p99':>11} {'now p99':>8}")
    for clients in LEVELS:
        before, now = np.median(rps["before"][clients]), np.median(rps["now"][clients])
        print(f"{clients:>7} {before:>13.0f} {now:>10.0f} {now / before:>10.3f}× "
              f"{np.median(p99['before'][clients]):>10.2f} {np.median(p99['now'][clients]):>8.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?")
    parser.add_argument("--requests", type=int, default=1500, help="at most this many requests per level")
    parser.add_argument("--seconds", type=float, default=20, help="at most this long per level")
    parser.add_argument("--engines", action="store_true", help="compare the keras and onnx engines instead")
    parser.add_argument("--against", metavar="DIR", help="compare with the server of the provador checkout in DIR")
    parser.add_argument("--rounds", type=int, default=3, help="with --against: rounds, alternating the two")
    args = parser.parse_args()
    if args.against:
        return compare_checkouts(args)
    scratch = tempfile.mkdtemp(prefix="provador-bench-")
    run_dir = args.run or quick_run(scratch)
    if args.engines and not (Path(run_dir) / "export" / "model.onnx").is_file():
        from provador.work.export import export

        export(run_dir, "onnx")

    from PIL import Image

    from provador.core.datasets import load_dataset

    buffer = io.BytesIO()
    Image.fromarray(load_dataset().x_test[0]).save(buffer, format="PNG")
    png = buffer.getvalue()

    servers = {
        "provador": [sys.executable, "-m", "provador", "serve", run_dir, "--port"],
        "naive": [sys.executable, str(HERE / "naive_server.py"), run_dir, "--port"],
    }
    if args.engines:
        servers = {
            "keras": [sys.executable, "-m", "provador", "serve", run_dir, "--engine", "keras", "--port"],
            "onnx": [sys.executable, "-m", "provador", "serve", run_dir, "--engine", "onnx", "--port"],
        }
    results: dict[str, list[dict]] = {}
    for name, command in servers.items():
        port = free_port()
        process = start(command + [str(port)], port, Path(scratch) / f"{name}.log")
        print(f"{name} server started on port {port}", file=sys.stderr)
        try:
            request = multipart_request(port, png)
            asyncio.run(load(port, request, 4, 50, 10))  # warm up
            results[name] = []
            for clients in LEVELS:
                results[name].append(asyncio.run(load(port, request, clients, args.requests, args.seconds)))
                print(f"  {clients} clients: {results[name][-1]['rps']:.0f} req/s", file=sys.stderr)
        finally:
            process.terminate()
            process.wait(timeout=10)

    print(
        f"run: {run_dir}\nsingle-image PNG uploads, loopback, {args.requests} requests or {args.seconds:g} s per level\n"
    )
    print(f"{'server':<9} {'clients':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, rows in results.items():
        for r in rows:
            print(f"{name:<9} {r['clients']:>7} {r['requests']:>8} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} "
                  f"{r['p99_ms']:>8.2f} {r['errors']:>6}")  # fmt: skip
    if args.engines:
        onnx, keras = results["onnx"][-1], results["keras"][-1]
        print(f"\nat 32 clients: onnx / keras engine throughput = {onnx['rps'] / keras['rps']:.2f}×, "
              f"p99 {onnx['p99_ms']:.1f} ms vs {keras['p99_ms']:.1f} ms")  # fmt: skip
        latencies = {
            engine: [predictor_latency(run_dir, engine=engine) for _ in range(3)] for engine in ("keras", "onnx")
        }
        medians = {engine: float(np.median(values)) for engine, values in latencies.items()}
        print(f"Predictor, in process, one image, median of 3 × 3000: keras (jitted JAX) {medians['keras']:.3f} ms, "
              f"onnx {medians['onnx']:.3f} ms: ratio {medians['keras'] / medians['onnx']:.1f}×")  # fmt: skip
        return
    ours, naive = results["provador"][-1], results["naive"][-1]
    ratio = ours["rps"] / naive["rps"]
    print(f"\nat 32 clients: provador / naive throughput = {ratio:.1f}× (target ≥ 5×), "
          f"p99 {ours['p99_ms']:.1f} ms vs {naive['p99_ms']:.1f} ms (target: lower), "
          f"errors {ours['errors']} (target 0)")  # fmt: skip
    latency = predictor_latency(run_dir)
    print(f"Predictor, in process, one image: median {latency:.3f} ms (target ≤ 0.2 ms)")


if __name__ == "__main__":
    main()
