"""Pictures of a run, drawn on `matplotlib.figure.Figure` objects and saved as PNG files.

No pyplot and no backend chosen here (Matplotlib's documented way for library and server code):
a user's backend, a notebook's inline one included, is left as it was, and nothing needs a
display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

from provador.base import _files
from provador.base.i18n import N_, _, class_name, metric_name, number, percent

SERIES = ("loss", "accuracy", "val_loss", "val_accuracy")  # Keras' names; legends via i18n.metric_name


def learning_curves(history: dict[str, list[float]], path: str | Path, title: str = "") -> Path:
    """The notebook's plot: the four series against the epoch, grid, y from 0 to 1."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for key in SERIES:
        if key in history:
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, label=metric_name(key), marker="." if len(values) < 15 else None)
    ax.grid(True)
    ax.set_ylim(0, 1)
    ax.set_xlabel(_("epoch"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    with _files.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return Path(path)


MAX_INCHES = 24  # no picture grows past this on a side, whatever the number of classes


def confusion(matrix: np.ndarray, class_names: list[str], path: str | Path) -> Path:
    """Counts in each cell; colours normalised per row (the share of each true class)."""
    matrix = np.asarray(matrix)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    n = len(class_names)
    # An inch a class up to MAX_INCHES: with many classes the cells shrink and lose their counts.
    fig = Figure(figsize=(min(1.0 * n + 2, MAX_INCHES), min(0.9 * n + 1.5, MAX_INCHES)))
    ax = fig.subplots()
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(n if n <= 30 else 0):
        for j in range(n):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rows[i, j] > 0.5 else "black")  # fmt: skip
    shown = [class_name(c) for c in class_names]
    ax.set_xticks(range(n), shown, rotation=45, ha="right")
    ax.set_yticks(range(n), shown)
    ax.set_xlabel(_("predicted class"))
    ax.set_ylabel(_("true class"))
    ax.set_title(_("Confusion matrix ({count} test images, accuracy {accuracy})").format(
        count=number(matrix.sum(), 0), accuracy=number(np.trace(matrix) / matrix.sum())))  # fmt: skip
    fig.colorbar(image, ax=ax, fraction=0.046, label=_("share of the true class"))
    return _save(fig, path)


def samples(
    images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray, class_names: list[str], path: str | Path,
    title: str = N_("Test images: prediction (probability) and true class"), columns: int = 3,
) -> Path:  # fmt: skip
    """TensorFlow-tutorial style: each image beside a bar chart of its ten probabilities."""
    class_names = [class_name(c) for c in class_names]
    count = len(images)
    rows = max(1, -(-count // columns))
    fig = Figure(figsize=(4.4 * columns, 2.2 * rows + 0.6))
    axes = fig.subplots(rows, 2 * columns, squeeze=False)
    for k in range(rows * columns):
        image_ax, bar_ax = axes[k // columns, 2 * (k % columns)], axes[k // columns, 2 * (k % columns) + 1]
        image_ax.axis("off")
        if k >= count:
            bar_ax.axis("off")
            continue
        predicted, truth = int(np.argmax(probabilities[k])), int(labels[k])
        colour = "tab:blue" if predicted == truth else "tab:red"
        image_ax.imshow(images[k], cmap="binary")
        image_ax.set_title(
            f"{class_names[predicted]} {percent(probabilities[k][predicted], 0)}\n"
            + _("(true: {label})").format(label=class_names[truth]),
            color=colour, fontsize=8,
        )  # fmt: skip
        bars = bar_ax.bar(range(len(class_names)), probabilities[k], color="lightgrey")
        bars[predicted].set_color("tab:red")
        bars[truth].set_color("tab:blue")
        bar_ax.set_ylim(0, 1)
        bar_ax.set_xticks(range(len(class_names)), bar_labels(class_names), rotation=90, fontsize=6)
        bar_ax.tick_params(axis="y", labelsize=6)
    fig.suptitle(_(title) + "  " + _("(blue: right, red: wrong)"), fontsize=10)
    return _save(fig, path)


def photo_mistakes(
    photos: list[np.ndarray], seen: list[np.ndarray], captions: list[str], path: str | Path, columns: int = 4
) -> Path:
    """Each wrongly answered photo as it was (RGB) beside the 28×28 image the model saw, captioned
    with the answer and the true class."""
    return image_pairs(list(zip(photos, seen)), captions,
                       _("Photos answered wrongly, surest first: the photo and what the model saw"), path, columns,
                       panel=(3.6, 2.1), caption_colour="tab:red")  # fmt: skip


def explained_mistakes(
    images: np.ndarray, said: list, truth: list, captions: list[str], method: str, path: str | Path, columns: int = 3
) -> Path:
    """Each mistake as three panels: what the model saw, why it said what it said (the heat map of
    its answer), and where it would have seen the true class (the heat map of that class)."""
    from provador.work.explain import overlay

    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(4.8 * columns, 1.9 * rows + 0.6))
    axes = fig.subplots(rows, 3 * columns, squeeze=False)
    for k in range(rows * columns):
        row, first = k // columns, 3 * (k % columns)
        for ax in axes[row, first : first + 3]:
            ax.axis("off")
        if k >= len(images):
            continue
        axes[row, first].imshow(images[k], cmap="gray", vmin=0, vmax=255)
        axes[row, first].set_title(captions[k], fontsize=7, color="tab:red", loc="left")
        axes[row, first + 1].imshow(overlay(images[k], said[k], scale=1))
        axes[row, first + 1].set_title(_("why it said so"), fontsize=7)
        axes[row, first + 2].imshow(overlay(images[k], truth[k], scale=1))
        axes[row, first + 2].set_title(_("where it saw the true class"), fontsize=7)
    fig.suptitle(_("The most confident mistakes and why ({method}: bright where the answer rests)").format(
        method=method), fontsize=10)  # fmt: skip
    return _save(fig, path)


def image_pairs(
    pairs: list[tuple[np.ndarray, np.ndarray]], captions: list[str], title: str, path: str | Path, columns: int = 4,
    panel: tuple[float, float] = (3.0, 1.8), caption_colour: str = "black",
) -> Path:  # fmt: skip
    """Pairs of images side by side (a duplicate and its copy; a photo and what the model saw),
    each pair captioned; greyscale images are drawn 0-255, RGB ones as they are."""
    rows = max(1, -(-len(pairs) // columns))
    fig = Figure(figsize=(panel[0] * columns, panel[1] * rows + 0.5))
    axes = fig.subplots(rows, 2 * columns, squeeze=False)
    for k in range(rows * columns):
        left, right = axes[k // columns, 2 * (k % columns)], axes[k // columns, 2 * (k % columns) + 1]
        left.axis("off")
        right.axis("off")
        if k < len(pairs):
            left.imshow(pairs[k][0], cmap="gray", vmin=0, vmax=255)
            right.imshow(pairs[k][1], cmap="gray", vmin=0, vmax=255)
            left.set_title(captions[k], fontsize=7, loc="left", color=caption_colour)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def image_grid(images: list[np.ndarray], captions: list[str], title: str, path: str | Path, columns: int = 8) -> Path:
    """Images in a grid, each captioned (label doubts)."""
    rows = max(1, -(-len(images) // columns))
    fig = Figure(figsize=(1.6 * columns, 1.9 * rows + 0.5))
    axes = fig.subplots(rows, columns, squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < len(images):
            ax.imshow(images[k], cmap="gray", vmin=0, vmax=255)
            ax.set_title(captions[k], fontsize=6)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def corruptions(clean: np.ndarray, result: dict, examples: dict, descriptions: dict, path: str | Path) -> Path:
    """One row per corruption: the first test image as it is and under each severity, with the
    accuracy on the whole test set so corrupted."""
    names = list(result["corruptions"])
    columns = 1 + max(len(v) for v in result["corruptions"].values())
    fig = Figure(figsize=(1.7 * columns + 2.6, 1.55 * len(names) + 0.6))
    axes = fig.subplots(len(names), columns, squeeze=False)
    for row, name in enumerate(names):
        for ax in axes[row]:
            ax.axis("off")
        axes[row, 0].imshow(clean, cmap="gray", vmin=0, vmax=255)
        axes[row, 0].set_title(_("clean {accuracy}").format(accuracy=number(result["clean"], 3)), fontsize=7)
        axes[row, 0].text(-4, 14, _(descriptions[name]), fontsize=7, ha="right", va="center")
        for column, (severity, accuracy) in enumerate(result["corruptions"][name].items(), start=1):
            axes[row, column].imshow(examples[(name, int(severity))], cmap="gray", vmin=0, vmax=255)
            axes[row, column].set_title(f"{severity}: {number(accuracy, 3)}", fontsize=7)
    fig.suptitle(_("Test accuracy under corruptions (severity: accuracy); mean {mean}, {relative} of clean").format(
        mean=number(result["mean"], 3), relative=percent(result["relative"], 0)), fontsize=10)  # fmt: skip
    return _save(fig, path)


def bar_labels(class_names: list[str]) -> list[str]:
    """The bars' labels: whole words ("T-shirt", "Ankle boot"; cut to five letters they read "T-shi")."""
    return [name.split("/")[0] for name in class_names]


def first_layer(kernel: np.ndarray, image_shape: tuple[int, int], path: str | Path, count: int = 32) -> Path:
    """A sample of first-layer weight vectors drawn as images: what each unit looks for."""
    kernel = np.asarray(kernel)
    count = min(count, kernel.shape[1])
    columns = 8
    rows = -(-count // columns)
    fig = Figure(figsize=(1.3 * columns, 1.4 * rows + 0.5))
    axes = fig.subplots(rows, columns, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < count:
            weights = kernel[:, k].reshape(image_shape)
            limit = np.abs(weights).max() or 1.0
            ax.imshow(weights, cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(_("unit {number}").format(number=k), fontsize=7)
    fig.suptitle(_("First-layer weights (red: bright pixels raise the unit, blue: lower it)"), fontsize=9)
    return _save(fig, path)


def compare_curves(histories: dict[str, dict[str, list[float]]], path: str | Path) -> Path:
    """Several runs' validation accuracy and loss (training as dashed lines) on shared axes."""
    fig = Figure(figsize=(12, 4.5))
    acc_ax, loss_ax = fig.subplots(1, 2)
    for (name, history), colour in zip(
        histories.items(), matplotlib.rcParams["axes.prop_cycle"].by_key()["color"] * 10
    ):
        for ax, key in ((acc_ax, "accuracy"), (loss_ax, "loss")):
            if f"val_{key}" in history:
                ax.plot(range(1, len(history[f"val_{key}"]) + 1), history[f"val_{key}"], color=colour, label=name)
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], color=colour, linestyle="--", alpha=0.6)
    acc_ax.set_title(_("validation accuracy (dashed: training)"))
    loss_ax.set_title(_("validation loss (dashed: training)"))
    for ax in (acc_ax, loss_ax):
        ax.grid(True)
        ax.set_xlabel(_("epoch"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    acc_ax.legend(fontsize=8)
    return _save(fig, path)


# --- a hyperparameter search (drawn here rather than by optuna.visualization.matplotlib, which
# --- goes through pyplot and switches the global style to ggplot) ---------------------------


def search_history(points: list[tuple[int, float, str]], path: str | Path) -> Path:
    """Each trial's validation accuracy (pruned ones at their last report) and the best so far."""
    fig = Figure(figsize=(9.5, 4.5))
    ax = fig.subplots()
    styles = {"complete": ("o", "tab:blue"), "pruned": ("x", "tab:gray")}
    for state, (marker, colour) in styles.items():
        chosen = [(n, v) for n, v, s in points if s == state]
        if chosen:
            ax.scatter(*zip(*chosen), marker=marker, color=colour, label=_(state), s=22)
    complete = sorted((n, v) for n, v, s in points if s == "complete")
    if complete:
        best = np.maximum.accumulate([v for _number, v in complete])
        ax.step([n for n, _value in complete], best, where="post", color="tab:red", label=_("best so far"))
        low = min(v for _number, v, _state in points)
        ax.set_ylim(max(0.0, low - 0.02), min(1.0, float(best[-1]) + 0.01))
    ax.set_xlabel(_("trial"))
    ax.set_ylabel(_("validation accuracy"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.4)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: it hid the lowest trials' dots
    ax.set_title(_("Search history"))
    return _save(fig, path)


def importances(values: dict[str, float], path: str | Path) -> Path:
    """How much of the validation accuracy's spread each parameter explains (Optuna's PED-ANOVA)."""
    names = list(values)[::-1]
    fig = Figure(figsize=(8, 0.45 * len(names) + 1.2))
    ax = fig.subplots()
    ax.barh(names, [values[n] for n in names], color="tab:blue")
    ax.set_xlabel(_("importance (shares sum to 1)"))
    ax.set_title(_("Which parameters mattered"))
    ax.grid(True, axis="x", alpha=0.4)
    return _save(fig, path)


def search_slices(params: dict[str, list[tuple[Any, float, int]]], log_scale: set[str], path: str | Path) -> Path:
    """Validation accuracy against each parameter's value, one panel per parameter, colour = trial."""
    names = list(params)
    columns = min(3, len(names))
    rows = -(-len(names) // columns)
    fig = Figure(figsize=(4 * columns, 3 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, name in zip(axes.flat, names):
        points = params[name]
        xs = [p[0] for p in points]
        if any(isinstance(x, (str, bool)) for x in xs):  # categorical: one column per choice
            labels = sorted({str(x) for x in xs})
            xs = [labels.index(str(x)) for x in xs]
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.scatter(xs, [p[1] for p in points], c=[p[2] for p in points], cmap="viridis", s=18)
        if name in log_scale:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # labelled minor ticks overlap on short ranges
        ax.set_title(name, fontsize=9)
        ax.grid(True, alpha=0.4)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(_("Validation accuracy by parameter (colour: trial number, later is yellower)"), fontsize=10)
    return _save(fig, path)
