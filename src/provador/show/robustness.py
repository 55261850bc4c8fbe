"""`evaluate --corruptions`: the run's robustness scores, its picture (corruptions.png) and text."""

from __future__ import annotations

from pathlib import Path

from provador.base.i18n import _, number, percent
from provador.records import runs
from provador.show import plots
from provador.work.robustness import CORRUPTIONS, robustness

PICTURE = "corruptions.png"


def score_robustness(run: runs.Run | str | Path, data_dir=None) -> dict:
    """Score the run under every corruption, keep the result in metrics.json (`robustness`) and
    draw corruptions.png in the run; returns the result with the picture's path."""
    run = runs.resolve_run(run)
    result, examples = robustness(run, data_dir)
    descriptions = {name: text for name, (text, _make, _levels) in CORRUPTIONS.items()}
    picture = plots.corruptions(examples[("clean", 0)], result, examples, descriptions, run.path / PICTURE)
    return {**result, "picture": str(picture)}


def format_robustness(result: dict) -> str:
    lines = [_("Test accuracy under corruptions ({images} images each, seed {seed}):").format(
        images=number(result["images"], 0), seed=result["seed"])]  # fmt: skip
    clean = _("clean")
    lines.append(f"  {clean:<12} {number(result['clean'])}")
    for name, per in result["corruptions"].items():
        cells = "  ".join(f"{severity}: {number(value)}" for severity, value in per.items())
        lines.append(f"  {name:<12} {cells}")
    lines.append(_("Mean under corruption {mean}: {relative} of the clean accuracy").format(
        mean=number(result["mean"]), relative=percent(result["relative"])))  # fmt: skip
    if "picture" in result:
        lines.append(_("Picture: {path}").format(path=result["picture"]))
    return "\n".join(lines)


__all__ = ["score_robustness", "format_robustness", "PICTURE"]
