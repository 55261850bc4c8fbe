"""What the commands chain: a training (`train`, `adapt`, a search's `--final`), then its report.

Training knows nothing of pictures; the report is its own step (`provador.show.report.finish`),
handed the trained model so that nothing is computed twice. `provador.train`, `provador.adapt`
and `provador.tune` are these; the functions they wrap train without drawing (what tests and
benchmarks that look at no picture call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provador.records import runs
from provador.show import report
from provador.work import training

if TYPE_CHECKING:
    from provador.records.studies import StudySummary


def train(recipe="seed", *, report_after: bool = True, **options) -> runs.Run:
    """`provador.work.training.train` (same arguments), then the run's pictures and report.html
    unless `report_after=False` (`provador report RUN` draws them later)."""
    return training.train(recipe, then=report.finish if report_after else None, **options)


def adapt(run=None, photos=None, *, report_after: bool = True, **options) -> runs.Run:
    """`provador.work.adaptation.adapt` (same arguments), then the new run's report."""
    from provador.work import adaptation  # here: `provador train` needs none of it

    return adaptation.adapt(run, photos, then=report.finish if report_after else None, **options)


def tune(recipe=None, space="mlp", *, report_after: bool = True, **options) -> StudySummary:
    """`provador.work.tuning.tune` (same arguments); with `final=True` the retrained winner's report."""
    from provador.show import study_report  # here: Optuna loads only for a search
    from provador.work import tuning

    return tuning.tune(recipe, space, then=report.finish if report_after else None,
                       draw_study=study_report.write if report_after else None, **options)  # fmt: skip


__all__ = ["train", "adapt", "tune"]
