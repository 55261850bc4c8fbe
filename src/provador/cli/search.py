"""`provador tune`, `studies` and `spaces`: hyperparameter search on the validation split."""

from __future__ import annotations

import json
from pathlib import Path

from provador.base.choices import HEARTBEAT, PRUNER, PRUNERS, SAMPLER, SAMPLERS
from provador.base.errors import ProvadorError
from provador.base.i18n import _, number
from provador.cli.parser import (
    add_data_dir,
    add_json,
    add_runs_dir,
    add_set,
    add_studies_dir,
    add_tracking,
    overrides,
    tracking,
)


def register(commands) -> None:
    tune = commands.add_parser(
        "tune", help=_("hyperparameter search on the validation split (Optuna); the test set is never loaded")
    )
    tune.add_argument("--recipe", help=_("the recipe to search around (default: the one the space names)"))
    tune.add_argument("--space", default="mlp", help=_("a shipped search space (`provador spaces`) or a .toml path"))
    tune.add_argument(
        "--trials", type=int, help=_("trials the study should have in all (default 20 without --timeout)")
    )
    tune.add_argument("--timeout", help=_("stop starting trials after this long: 90s, 15m, 2h, 1h30m"))
    tune.add_argument(
        "--trial-time",
        help=_("stop a trial whose training would take longer than this (e.g. 15s): recipes that stay fast"),
    )
    tune.add_argument("--study", help=_("the study's name (default: <recipe>-<space>); the same name resumes it"))
    tune.add_argument(
        "--storage",
        help=_("postgresql://user@host/db to share the study between machines (default: a file in the study folder)"),
    )
    tune.add_argument("--workers", type=int, default=1, help=_("worker processes on this machine (default 1)"))
    tune.add_argument(
        "--resume", action="store_true", help=_("go on with an existing study whose space or recipe changed")
    )
    tune.add_argument("--final", action="store_true", help=_("after the search, retrain the winner and test it once"))
    add_set(tune, _("override a key of the recipe (fixed in every trial)"))
    tune.add_argument(
        "--sampler", default=SAMPLER, choices=SAMPLERS,
        help=_("how trials are chosen (default {default})").format(default=SAMPLER),
    )  # fmt: skip
    tune.add_argument(
        "--pruner", default=PRUNER, choices=PRUNERS,
        help=_("how hopeless trials are stopped early (default {default})").format(default=PRUNER),
    )  # fmt: skip
    tune.add_argument(
        "--heartbeat", type=int, default=HEARTBEAT,
        help=_("PostgreSQL: seconds before a silent worker's trial is failed (default {default})").format(
            default=HEARTBEAT),
    )  # fmt: skip
    add_studies_dir(tune, _("where study folders go (default: {default})"))
    add_runs_dir(tune, _("where --final writes its run (default: {default})"))
    add_data_dir(tune)
    add_tracking(tune)
    tune.add_argument("--quiet", action="store_true", help=_("print only the path of best.toml"))
    tune.set_defaults(handler=tune_space)

    studies = commands.add_parser("studies", help=_("list the studies; `studies show NAME` for one"))
    studies.add_argument("action", nargs="?", choices=["show"], help=_("show one study"))
    studies.add_argument("name", nargs="?", help=_("the study to show"))
    add_studies_dir(studies, _("where study folders are (default: {default})"))
    studies.add_argument(
        "--storage",
        help=_("the study's PostgreSQL URL (needed for a study there: provador never connects where a file says)"),
    )
    add_json(studies)
    studies.set_defaults(handler=list_studies)

    spaces = commands.add_parser("spaces", help=_("list the shipped search spaces, or print one"))
    spaces.add_argument("name", nargs="?")
    spaces.set_defaults(handler=list_spaces)


def tune_space(args) -> None:
    from provador.workflow import tune

    summary = tune(
        args.recipe, args.space, trials=args.trials, timeout=args.timeout, trial_time=args.trial_time,
        study=args.study, storage=args.storage, workers=args.workers, resume=args.resume, final=args.final,
        overrides=overrides(args.set), studies_dir=args.studies_dir, runs_dir=args.runs_dir,
        data_dir=args.data_dir, sampler=args.sampler, pruner=args.pruner, heartbeat=args.heartbeat, quiet=args.quiet,
        track=tracking(args),
    )  # fmt: skip
    if args.quiet and summary.best_recipe:
        print(summary.best_recipe)


def list_studies(args) -> None:
    from provador.records import studies
    from provador.show.text import rows_or_json, table

    if args.action == "show" or args.name:
        if not args.name:
            raise ProvadorError(
                _("Expected the study's name: `provador studies show NAME` (`provador studies` lists them).")
            )
        from provador.show import study_report

        summary = studies.refresh(args.name, studies_dir=args.studies_dir, storage=args.storage,
                                  draw=study_report.write)  # fmt: skip
        if args.json:
            print(json.dumps(summary.to_dict(), indent=2))
            return
        print(study_report.trials_text(Path(summary.folder)))
        print(studies.format_summary(summary))
        pictures = ", ".join(str(Path(summary.folder) / name) for name in studies.PICTURES)
        print(_("Pictures: {paths}").format(paths=pictures))
        trials = f"provador runs --runs-dir {Path(summary.folder) / studies.TRIALS_DIR}"
        print(_("Trial runs: {command}").format(command=trials))
        return
    rows = studies.list_studies(args.studies_dir)
    empty = _("No studies in {folder}/ yet: `provador tune` makes one.").format(folder=args.studies_dir)
    if not rows_or_json(rows, args.json, empty):
        return
    columns = [(_("study"), "<22"), (_("space"), "<8"), (_("recipe"), "<12"), (_("done"), ">5"), (_("pruned"), ">6"),
               (_("failed"), ">6"), (_("best val"), ">9"), (_("trial"), ">5"), (_("final test"), ">11"),
               (_("storage"), " ")]  # fmt: skip

    def where(row: dict) -> str:
        if row.get("broken"):
            return _("broken ({file} damaged)").format(file=row["broken"])
        storage = row["storage"]  # a variable: older Babel would extract a subscript's key as a message
        return _(storage) if storage else ""

    print(table(columns, [
        [r["study"], r["space"] or "", r["recipe"] or "", r["trials"].get("complete", 0), r["trials"].get("pruned", 0),
         r["trials"].get("failed", 0),
         number(r["best_val_accuracy"]) if r["best_val_accuracy"] is not None else "-",
         r["best_trial"] if r["best_trial"] is not None else "-",
         number(r["final_test_accuracy"]) if r["final_test_accuracy"] is not None else "-", where(r)]
        for r in rows
    ]))  # fmt: skip


def list_spaces(args) -> None:
    from provador.core.spaces import list_spaces, load_space

    if args.name:
        print(load_space(args.name).text, end="")
        return
    for name in list_spaces():
        space = load_space(name)
        print(
            f"{name:<6} " + _("recipe {recipe}").format(recipe=f"{space.recipe or '-':<10}") + f" {space.description}"
        )
