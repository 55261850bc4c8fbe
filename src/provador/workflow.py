"""What `provador train` chains: train a recipe, then draw its pictures and report.

Training knows nothing of pictures beyond its learning curves; the report is its own step
(`provador.report`), handed the trained model so nothing is computed twice.
"""

from __future__ import annotations

from provador import report, runs, training


def train(recipe="seed", *, report_after: bool = True, **options) -> runs.Run:
    """`provador.training.train` (same arguments), then the run's pictures and report.html
    unless `report_after=False` (`provador report RUN` draws them later)."""
    return training.train(recipe, then=report.finish if report_after else None, **options)


__all__ = ["train"]
