"""Pictures of a run, drawn with Matplotlib's file-only Agg backend."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: works on servers and in CI without a display
import matplotlib.pyplot as plt  # noqa: E402

from provador import _files  # noqa: E402

SERIES = ("loss", "accuracy", "val_loss", "val_accuracy")


def learning_curves(history: dict[str, list[float]], path: str | Path, title: str = "") -> Path:
    """The notebook's plot: the four series against the epoch, grid, y from 0 to 1."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for key in SERIES:
        if key in history:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, label=key, marker="." if len(values) < 15 else None)
    ax.grid(True)
    ax.set_ylim(0, 1)
    ax.set_xlabel("epoch")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with _files.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return Path(path)
