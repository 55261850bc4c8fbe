"""Soak test: `provador serve` under bounded load for minutes, with bad uploads and slow clients mixed in.

64 concurrent clients send single-image PNG uploads on keep-alive connections; one request in eight
is a bad one (not an image, or JSON nested too deep), which must get a 4xx. Two phases of equal
length, in the same invocation: the baseline (no slow clients), then the same load while 32 slow
clients each send their request headers a byte a second. Every 10 s the server's memory (RSS) is
read from /proc. Then the cost of one 40-megapixel PNG (12 KB on the wire) is measured: the
server's peak memory while four are sent at once.

    python bench/soak_serve.py [RUN] [--seconds 300] [--clients 64]
Without RUN it trains a quick MLP into a temporary folder. Targets (issue 14): no 5xx, no dropped
connections, memory flat after warm-up (growth < 5%), p99 < 100 ms at 64 clients on 2 cores,
and slow clients do not stop others from being answered.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from load_serve import free_port, multipart_request, quick_run, read_response, start  # noqa: E402

os.environ.setdefault("KERAS_BACKEND", "jax")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bad_requests(port: int) -> list[bytes]:
    deep = b'{"images":' + b"[" * 5000 + b"]" * 5000 + b"}"
    json_head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(deep)}\r\n\r\n").encode()  # fmt: skip
    return [multipart_request(port, b"this is not an image"), json_head + deep]


async def client(port: int, good: bytes, bad: list[bytes], stop_at: float, stats: dict, seed: int):
    rng = np.random.default_rng(seed)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        stats["dropped"] += 1
        return
    try:
        while time.perf_counter() < stop_at:
            is_bad = rng.random() < 1 / 8
            request = bad[int(rng.integers(len(bad)))] if is_bad else good
            started = time.perf_counter()
            writer.write(request)
            status_line = await read_response(reader)
            status = int(status_line.split()[1]) if status_line else 0
            if status >= 500 or status == 0:
                stats["5xx"] += 1
            elif is_bad and not 400 <= status < 500:
                stats["bad_not_4xx"] += 1
            elif not is_bad:
                stats["latencies"].append(time.perf_counter() - started)
    except (ConnectionError, asyncio.IncompleteReadError):
        stats["dropped"] += 1
    finally:
        writer.close()


async def slow_client(port: int, stop_at: float, stats: dict):
    """Sends a request's headers a byte a second; counts how often the server cuts it off (408)."""
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 200 + b"\r\n\r\n"
    while time.perf_counter() < stop_at:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return
        try:
            for byte in request:
                if time.perf_counter() >= stop_at:
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    answer = await asyncio.wait_for(reader.read(100), 1.0)
                except TimeoutError:
                    continue
                if answer.startswith(b"HTTP/1.1 408"):
                    stats["slow_cut_off"] += 1
                break
        except ConnectionError:
            stats["slow_cut_off"] += 1
        finally:
            writer.close()


async def phase(port: int, pid: int, good: bytes, clients: int, slow: int, seconds: float) -> dict:
    stats = {"latencies": [], "5xx": 0, "bad_not_4xx": 0, "dropped": 0, "slow_cut_off": 0, "memory_mb": []}
    stop_at = time.perf_counter() + seconds

    async def sample_memory():
        while time.perf_counter() < stop_at:
            stats["memory_mb"].append(round(rss_mb(pid), 1))
            await asyncio.sleep(10)

    bad = bad_requests(port)
    started = time.perf_counter()
    await asyncio.gather(
        sample_memory(),
        *(client(port, good, bad, stop_at, stats, seed) for seed in range(clients)),
        *(slow_client(port, stop_at, stats) for _ in range(slow)),
    )
    elapsed = time.perf_counter() - started
    ms = np.array(stats.pop("latencies")) * 1000
    return {**stats, "requests": len(ms), "rps": round(len(ms) / elapsed, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}  # fmt: skip


async def big_images(port: int, pid: int, count: int = 4) -> dict:
    from PIL import Image, ImageDraw

    image = Image.new("1", (6300, 6300), 1)
    ImageDraw.Draw(image).rectangle((2000, 1500, 4300, 4800), fill=0)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    request = multipart_request(port, buffer.getvalue())
    before = rss_mb(pid)

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        status = await reader.readline()
        writer.close()
        return status

    statuses = await asyncio.gather(*(one() for _ in range(count)))
    return {"png_kb": len(buffer.getvalue()) // 1024, "sent_at_once": count, "rss_before_mb": round(before, 1),
            "peak_rss_mb": round(peak_mb(pid), 1), "all_200": all(b" 200 " in s for s in statuses)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?")
    parser.add_argument("--seconds", type=float, default=300, help="length of each of the two phases")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--slow", type=int, default=32, help="slow clients in the second phase")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="provador-soak-")
    run_dir = args.run or quick_run(scratch)

    from PIL import Image

    from provador.core.datasets import load_dataset

    buffer = io.BytesIO()
    Image.fromarray(load_dataset().x_test[0]).save(buffer, format="PNG")
    port = free_port()
    process = start([sys.executable, "-m", "provador", "serve", run_dir, "--port", str(port)], port,
                    Path(scratch) / "server.log")  # fmt: skip
    try:
        good = multipart_request(port, buffer.getvalue())
        asyncio.run(phase(port, process.pid, good, 8, 0, 10))  # warm-up
        results = {
            "baseline": asyncio.run(phase(port, process.pid, good, args.clients, 0, args.seconds)),
            "with_slow_clients": asyncio.run(phase(port, process.pid, good, args.clients, args.slow, args.seconds)),
        }
        results["big_images"] = asyncio.run(big_images(port, process.pid))
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(json.dumps(results, indent=1))
    base, slow = results["baseline"], results["with_slow_clients"]
    memory = base["memory_mb"] + slow["memory_mb"]
    growth = (max(memory[1:]) - memory[1]) / memory[1] * 100 if len(memory) > 2 else float("nan")
    print(f"\n{args.clients} clients, {args.seconds:g} s per phase, 1 request in 8 bad:")
    print(f"  baseline:          {base['rps']:.0f} req/s, p50 {base['p50_ms']} ms, p99 {base['p99_ms']} ms")
    print(f"  with {args.slow} slow clients: {slow['rps']:.0f} req/s, p50 {slow['p50_ms']} ms, p99 {slow['p99_ms']} ms;"
          f" throughput ratio {slow['rps'] / base['rps']:.2f}, slow clients cut off {slow['slow_cut_off']} times")  # fmt: skip
    print(f"  5xx {base['5xx'] + slow['5xx']}, bad requests not 4xx {base['bad_not_4xx'] + slow['bad_not_4xx']},"
          f" dropped connections {base['dropped'] + slow['dropped']} (targets 0)")  # fmt: skip
    print(
        f"  memory after warm-up {memory[1]:.0f} MB, highest {max(memory[1:]):.0f} MB: growth {growth:.1f}% (target < 5%)"
    )
    big = results["big_images"]
    print(f"  {big['sent_at_once']} × 40-megapixel PNG ({big['png_kb']} KB) at once: peak RSS {big['peak_rss_mb']:.0f} MB"
          f" (before: {big['rss_before_mb']:.0f} MB), all answered 200: {big['all_200']}")  # fmt: skip


if __name__ == "__main__":
    main()
