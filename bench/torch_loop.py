"""The notebook's recipe as a plain PyTorch loop: the baseline a practitioner would write.

Flatten-300-100-10 ReLU, SGD lr 0.01 (no momentum), batch 32, shuffled each epoch, first 1000
training images held out for validation, pixels / 255. Runs in its own virtual environment
(bench/speed_seed.py makes it with `pip install torch==2.13.0 numpy`). Reads the IDX files with
a few lines of NumPy, so it needs nothing from provador. Prints one JSON line.
"""

import argparse
import gzip
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def read_idx(path: Path) -> np.ndarray:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(torch.get_num_threads())

    def load(stem):
        return read_idx(args.data_dir / f"{stem}.gz")

    x_full = torch.tensor(load("train-images-idx3-ubyte"), dtype=torch.float32) / 255.0
    y_full = torch.tensor(load("train-labels-idx1-ubyte"), dtype=torch.long)
    x_test = torch.tensor(load("t10k-images-idx3-ubyte"), dtype=torch.float32) / 255.0
    y_test = torch.tensor(load("t10k-labels-idx1-ubyte"), dtype=torch.long)
    x_valid, x_train, y_valid, y_train = x_full[:1000], x_full[1000:], y_full[:1000], y_full[1000:]

    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    epoch_seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(x_train))
        for i in range(0, len(order), 32):
            batch = order[i : i + 32]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            valid_accuracy = (model(x_valid).argmax(1) == y_valid).float().mean().item()
        epoch_seconds.append(round(time.perf_counter() - start, 4))
    with torch.no_grad():
        test_accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(json.dumps({
        "system": "plain PyTorch loop", "torch": torch.__version__, "epochs": args.epochs,
        "epoch_seconds": epoch_seconds, "final_val_accuracy": round(valid_accuracy, 4),
        "test_accuracy": round(test_accuracy, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
