"""The `cnn` recipe's training step on other engines: is anything on this CPU much faster?

Milliseconds per training step (batch 128, Adam) of the `cnn` recipe's network
(24/48/96 filters, conv → pool → BN → ReLU, dense 128, dropout 0.3), interleaved in one invocation:
  provador        provador's model on JAX, as `provador train --recipe cnn` runs it (bench/cnn_speed.py's child)
  provador+bf16   the same under Keras' mixed_bfloat16 policy
  torch ...       the same layers written in plain PyTorch 2.13 (CPU), in the default (NCHW) memory
                  layout or channels-last, in float32 or under bfloat16 autocast; run in
                  bench/.venv-torch, which bench/speed_seed.py makes on first use
The PyTorch rows are a bound on what leaving Keras would buy, not a recipe: they time the step on
synthetic batches and train nothing. Prints the CPU's bfloat16 features (avx512_bf16, amx_bf16)
first, since oneDNN only has fast bfloat16 kernels where they are.

    python bench/cnn_engines.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STEPS_PER_EPOCH = 55_000 / 128  # the `cnn` recipe's batch size, at which cnn_speed.py's child trains
TORCH_WAYS = [("default", False), ("default", True), ("channels-last", False), ("channels-last", True)]


def torch_child(steps: int) -> None:
    """Runs in bench/.venv-torch: one JSON line of milliseconds per step for each of TORCH_WAYS."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(cout), nn.ReLU()]

    x = torch.randn(128, 1, 28, 28)
    y = torch.randint(0, 10, (128,))
    result = {}
    for layout, bf16 in TORCH_WAYS:
        net = nn.Sequential(*block(1, 24), *block(24, 48), *block(48, 96), nn.Flatten(),
                            nn.Linear(96 * 3 * 3, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))  # fmt: skip
        inputs = x
        if layout == "channels-last":
            net, inputs = net.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(net.parameters(), 1e-3)
        name = f"torch {layout} {'bf16' if bf16 else 'f32'}"
        result[name] = _ms_per_step(net, optimizer, inputs, y, bf16, steps)
    print(json.dumps(result))


def _ms_per_step(net, optimizer, inputs, labels, bf16: bool, steps: int) -> float:
    import time

    import torch
    from torch import nn

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(net(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(5):  # oneDNN picks and caches its kernels on the first calls
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1000


def provador_ms_per_step(bf16: bool) -> float:
    command = [sys.executable, str(HERE / "cnn_speed.py"), "--child", "1", "1", "1", str(int(bf16))]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds_per_epoch"] / STEPS_PER_EPOCH * 1000


def cpu_bf16_features() -> str:
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    found = [name for name in ("avx512_bf16", "amx_bf16") if name in flags.split()]
    return ", ".join(found) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="timed PyTorch steps per way")
    parser.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_child:
        return torch_child(args.steps)

    sys.path.insert(0, str(HERE))
    from speed_seed import ensure_torch_venv

    torch_python = ensure_torch_venv()
    times: dict[str, list[float]] = {"provador": [], "provador+bf16": []}
    for _ in range(args.repeats):
        times["provador"].append(provador_ms_per_step(bf16=False))
        times["provador+bf16"].append(provador_ms_per_step(bf16=True))
        command = [str(torch_python), __file__, "--torch-child", "--steps", str(args.steps)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        for name, ms in json.loads(out.strip().splitlines()[-1]).items():
            times.setdefault(name, []).append(ms)
    print(f"CPU bfloat16 features: {cpu_bf16_features()}")
    print(f"`cnn` network, milliseconds per training step at batch 128 ({args.repeats} rounds, median (min-max))")
    provador = statistics.median(times["provador"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<24} {median:6.1f}  ({min(values):.1f}-{max(values):.1f})  × provador {median / provador:4.2f}")


if __name__ == "__main__":
    main()
