"""`provador evaluate`, `predict`, `report`, `runs` and `track`: what a trained run says, the runs there are,
and sending them to the tracking tools people already use."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from provador.base.choices import TOP_K
from provador.base.errors import ProvadorError
from provador.base.i18n import _, class_name, number, percent
from provador.cli.parser import add_data_dir, add_json, add_photos, add_runs_dir, add_tracking, labels, tracking


def register(commands) -> None:
    evaluate = commands.add_parser("evaluate", help=_("test loss and accuracy of a run"))
    evaluate.add_argument("run")
    add_data_dir(evaluate)
    add_json(evaluate)
    add_photos(evaluate)
    evaluate.add_argument(
        "--record", action="store_true",
        help=_("write the result into the run's metrics.json (default: leave the run as it is)"),
    )  # fmt: skip
    evaluate.add_argument(
        "--corruptions", action="store_true",
        help=_("score the test set under noise, blur, shifts, rotations, contrast, inversion and flips at several "
               "severities (made here with a fixed seed); kept in metrics.json and the report"),
    )  # fmt: skip
    evaluate.set_defaults(handler=evaluate_run)

    predict = commands.add_parser("predict", help=_("class names and probabilities for test images or image files"))
    predict.add_argument("run")
    predict.add_argument(
        "images", nargs="*", metavar="IMAGE",
        help=_("image files or folders (searched recursively): photos (JPEG, PNG, WebP, GIF, BMP, TIFF) "
               "or 28×28 dataset-style images"),
    )  # fmt: skip
    predict.add_argument(
        "--show-input", metavar="DIR", help=_("save the 28×28 image the model saw for each file in DIR")
    )
    predict.add_argument(
        "--explain", metavar="DIR",
        help=_("why: for each image, what the model saw beside a heat map of the pixels its answer rests on, as "
               "DIR/<name>.why.png"),
    )  # fmt: skip
    predict.add_argument("--explain-class", metavar="CLASS", help=_("with --explain: why this class, not the answer"))
    predict.add_argument(
        "--explain-method", choices=("saliency", "gradcam"), default="saliency",
        help=_("with --explain: saliency (input × gradient, any model; the default) or gradcam (models with "
               "convolutions)"),
    )  # fmt: skip
    predict.add_argument("--test-index", help=_("test images by index: 0:5, 7 or 1,4,9 (default 0:5 when no IMAGE)"))
    predict.add_argument(
        "--top", type=int, default=TOP_K, help=_("how many classes to list per image (default {default})").format(
            default=TOP_K)
    )  # fmt: skip
    add_data_dir(predict)
    add_json(predict)
    predict.set_defaults(handler=predict_images)

    report = commands.add_parser("report", help=_("evaluate a run again and redraw its pictures and report.html"))
    report.add_argument("run")
    add_data_dir(report)
    add_photos(report)
    report.set_defaults(handler=report_run)

    runs = commands.add_parser("runs", help=_("a table of the runs; --compare puts runs side by side"))
    add_runs_dir(runs, _("where run directories are (default: {default})"))
    runs.add_argument(
        "--compare", nargs="+", metavar="RUN", help=_("runs to compare: curves on one plot, metrics side by side")
    )
    runs.add_argument("--output", help=_("where --compare writes its plot (default: compare.png in the runs folder)"))
    add_json(runs)
    runs.set_defaults(handler=list_runs)

    track = commands.add_parser(
        "track",
        help=_("send complete runs to MLflow or write their TensorBoard files (what --track does while training)"),
    )
    track.add_argument("runs", nargs="+", metavar="RUN")
    add_tracking(track)
    track.set_defaults(handler=track_runs)


def track_runs(args) -> int:
    from provador.work.tracking import track_run

    chosen = tracking(args)
    if not chosen:
        raise ProvadorError(
            _("Say where to send the runs: --track mlflow (with --tracking-uri URI or $MLFLOW_TRACKING_URI) or "
              "--track tensorboard.")
        )  # fmt: skip
    failed = sum(track_run(run, chosen).failed for run in args.runs)
    return 1 if failed else 0  # each failure was reported as it happened


def evaluate_run(args) -> None:
    from provador.work.evaluation import evaluate, format_report

    if args.photos:
        from provador.work.photo_scores import format_photo_scores, score_photos

        if args.record:
            raise ProvadorError(_("--record writes the test set's result; drop it with --photos."))
        result = score_photos(args.run, args.photos, labels=labels(args))
        print(json.dumps(result, indent=2) if args.json else format_photo_scores(result))
        return
    if args.corruptions:
        from provador.show.robustness import format_robustness, score_robustness

        result = score_robustness(args.run, data_dir=args.data_dir)
        print(json.dumps(result, indent=2) if args.json else format_robustness(result))
        return
    result = evaluate(args.run, data_dir=args.data_dir, record=args.record)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


def report_run(args) -> None:
    from provador.show.report import build_report

    path = build_report(args.run, data_dir=args.data_dir, photos=args.photos, labels=labels(args))
    print(_("Report: {path}").format(path=path))


def list_runs(args) -> None:
    from provador.records import runs
    from provador.show.text import rows_or_json, table

    if args.compare:
        from provador.show.compare import compare_runs, format_comparison

        result = compare_runs(args.compare, args.output or Path(args.runs_dir) / "compare.png")
        print(json.dumps(result, indent=2) if args.json else format_comparison(result))
        return
    rows = runs.list_runs(args.runs_dir)
    empty = _("No runs in {folder} yet: `provador train` makes one.").format(folder=args.runs_dir)
    if not rows_or_json(rows, args.json, empty):
        return

    def pct(value):
        return number(value) if isinstance(value, (int, float)) else "-"

    columns = [(_("run"), "<32"), (_("recipe"), "<10"), (_("model"), "<6"), (_("epochs"), ">6"), (_("val acc"), ">8"),
               (_("test acc"), ">8"), (_("time s"), ">7"), (_("status"), " ")]  # fmt: skip
    print(table(columns, [
        [r["run"], r["recipe"], r["model"], r["epochs"] or "-", pct(r["val_accuracy"]), pct(r["test_accuracy"]),
         number(r["training_seconds"], 1) if r["training_seconds"] is not None else "-", runs.status_text(r)]
        for r in rows
    ]))  # fmt: skip


def predict_images(args) -> int:
    from provador.work.inference import Predictor, parse_indices

    if args.top < 1:
        raise ProvadorError(_("Expected --top to be a positive integer. Received: {value}").format(value=args.top))
    if args.explain_class and not args.explain:
        raise ProvadorError(_("--explain-class says which class to explain: add --explain DIR for the pictures."))
    predictor = Predictor(args.run)
    predictions = []
    if args.test_index or not args.images:
        from provador.core.datasets import dataset_for

        data = dataset_for(predictor.run_.recipe, args.data_dir, progress=False)
        indices = parse_indices(args.test_index or "0:5", len(data.x_test))
        predictions += predictor.predict(
            data.x_test[indices], sources=[f"test[{i}]" for i in indices], labels=data.y_test[indices], top_k=args.top
        )
        if args.explain:
            targets = [Path(args.explain) / f"test-{i}.why.png" for i in indices]
            predictor.write_explanations(data.x_test[indices], targets, args.explain_class, args.explain_method)
    failures: list[tuple[str, str]] = []
    from_test_set = len(predictions)  # the summary below counts files only
    if args.images:
        predictions += predictor.predict_files(
            args.images, show_input=args.show_input, errors=failures, progress=sys.stderr.isatty(), top_k=args.top,
            explain=args.explain, explain_class=args.explain_class, explain_method=args.explain_method,
        )  # fmt: skip
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    else:
        _print_predictions(predictions, args.show_input)
        if args.explain:
            print(_("Why: heat maps of what each answer rests on are in {folder}").format(folder=args.explain))
    if failures:
        for path, message in failures:
            print(_("Skipped {path}: {reason}").format(path=path, reason=message), file=sys.stderr)
        print(
            _("Error: {failed} of {total} files could not be read (listed above); the others were answered.").format(
                failed=len(failures), total=len(failures) + len(predictions) - from_test_set
            ),
            file=sys.stderr,
        )
        return 1
    return 0


def _print_predictions(predictions, show_input) -> None:
    for p in predictions:
        truth = ""
        if p.true_label is not None:
            said = _("true: {label}") if p.true_label == p.label else _("true: {label}, WRONG")
            truth = "  (" + said.format(label=class_name(p.true_label)) + ")"
        top = ", ".join(f"{class_name(name)} {percent(prob)}" for name, prob in p.top)
        guess = (
            "  (" + _("not sure: {reason}; see the top classes").format(reason=_(p.low_confidence_reason)) + ")"
            if p.low_confidence
            else ""
        )
        print(f"{p.source}: {class_name(p.label)} {percent(p.probability)}{truth}{guess}\n    top-{len(p.top)}: {top}")
    if show_input:
        print(_("The 28×28 images the model saw are in {folder}").format(folder=show_input))
