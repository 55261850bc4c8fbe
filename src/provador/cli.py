"""The `provador` command. Thin: every command is one library call plus printing."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
from pathlib import Path

from provador.errors import ProvadorError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args) or 0
        sys.stdout.flush()  # here, so that a closed pipe is caught below rather than at exit
        return code
    except ProvadorError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped reading (`provador data info | head -3`): stop quietly, as Unix
        # tools do; what is still buffered goes nowhere instead of into a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


class _Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for a mistyped command or option (Python 3.11's has none)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{self._suggestion(message)}\nTry '{self.prog} --help'.\n")

    def _suggestion(self, message: str) -> str:
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            close = difflib.get_close_matches(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)), n=1)
            return f". Did you mean `{close[0]}`?" if close else ""
        unknown = re.search(r"unrecognized arguments: (.*)", message)
        if unknown:
            options = _option_strings(self)
            for word in unknown.group(1).split():
                close = difflib.get_close_matches(word.split("=")[0], options, n=1) if word.startswith("-") else []
                if close:
                    return f". Did you mean `{close[0]}`?"
        return ""


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every option of the parser and of its subcommands, for suggestions."""
    found = []
    for action in parser._actions:
        found += [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _option_strings(sub)
    return sorted(set(found))


def build_parser() -> argparse.ArgumentParser:
    from provador import __version__

    parser = _Parser(
        prog="provador",
        description="Train, evaluate, explain and serve Fashion-MNIST classifiers (Keras 3).",
    )
    parser.add_argument("--version", action="version", version=f"provador {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="about the dataset").add_subparsers(required=True, metavar="ACTION")
    info = data.add_parser("info", help="where the data came from, shapes, classes, hash check")
    _add_data_dir(info)
    info.add_argument("--validation", default="1000", help="validation images: a count or a fraction (default 1000)")
    info.add_argument("--split", default="first", choices=["first", "random", "stratified"])
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(handler=cmd_data_info)

    inspect = commands.add_parser("inspect", help="model summary, layers and weights")
    inspect.add_argument("run", nargs="?", help="a run directory (or use --model)")
    inspect.add_argument("--model", help="an architecture from the registry, untrained (e.g. mlp)")
    inspect.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="model parameter, e.g. hidden=[512,256]"
    )
    inspect.add_argument("--layer", help="one layer, by index (1) or name (dense)")
    inspect.add_argument("--weights", action="store_true", help="show weights: shapes, statistics and values")
    inspect.set_defaults(handler=cmd_inspect)

    train = commands.add_parser("train", help="train a recipe and write a run directory")
    train.add_argument("--recipe", default="seed", help="a shipped recipe name or a .toml path (default: seed)")
    train.add_argument("--epochs", type=int, help="override training.epochs")
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any recipe key, e.g. training.learning_rate=0.05",
    )
    train.add_argument("--runs-dir", default="runs", help="where run directories go (default: runs)")
    train.add_argument("--seed", type=int, help="override the recipe's seed")
    _add_data_dir(train)
    train.add_argument("--quiet", action="store_true", help="print only the run's path")
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="test loss and accuracy of a run")
    evaluate.add_argument("run")
    _add_data_dir(evaluate)
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="class names and probabilities for test images or image files")
    predict.add_argument("run")
    predict.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files or folders (searched recursively): photos (JPEG, PNG, WebP, GIF, BMP, TIFF) "
        "or 28×28 dataset-style images",
    )
    predict.add_argument("--show-input", metavar="DIR", help="save the 28×28 image the model saw for each file in DIR")
    predict.add_argument("--test-index", help="test images by index: 0:5, 7 or 1,4,9 (default 0:5 when no IMAGE)")
    predict.add_argument("--top", type=int, default=3, help="how many classes to list per image (default 3)")
    _add_data_dir(predict)
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(handler=cmd_predict)

    report = commands.add_parser("report", help="evaluate a run again and redraw its pictures and report.html")
    report.add_argument("run")
    _add_data_dir(report)
    report.set_defaults(handler=cmd_report)

    runs = commands.add_parser("runs", help="a table of the runs; --compare puts runs side by side")
    runs.add_argument("--runs-dir", default="runs", help="where run directories are (default: runs)")
    runs.add_argument(
        "--compare", nargs="+", metavar="RUN", help="runs to compare: curves on one plot, metrics side by side"
    )
    runs.add_argument("--output", default="compare.png", help="where --compare writes its plot (default: compare.png)")
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=cmd_runs)

    serve = commands.add_parser("serve", help="HTTP API and web page for a trained run")
    serve.add_argument("run")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--access-log", action="store_true", help="log every request")
    _add_data_dir(serve)
    serve.set_defaults(handler=cmd_serve)

    tune = commands.add_parser(
        "tune", help="hyperparameter search on the validation split (Optuna); the test set is never loaded"
    )
    tune.add_argument("--recipe", help="the recipe to search around (default: the one the space names)")
    tune.add_argument("--space", default="mlp", help="a shipped search space (`provador spaces`) or a .toml path")
    tune.add_argument("--trials", type=int, help="trials the study should have in all (default 20 without --timeout)")
    tune.add_argument("--timeout", help="stop starting trials after this long: 90s, 15m, 2h, 1h30m")
    tune.add_argument(
        "--trial-time",
        help="stop a trial whose training would take longer than this (e.g. 15s): recipes that stay fast",
    )
    tune.add_argument("--study", help="the study's name (default: <recipe>-<space>); the same name resumes it")
    tune.add_argument(
        "--storage",
        help="postgresql://user@host/db to share the study between machines (default: a file in the study folder)",
    )
    tune.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default 1)")
    tune.add_argument(
        "--resume", action="store_true", help="go on with an existing study whose space or recipe changed"
    )
    tune.add_argument("--final", action="store_true", help="after the search, retrain the winner and test it once")
    tune.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the recipe (fixed in every trial)",
    )
    tune.add_argument("--sampler", default="tpe", choices=["tpe", "random"], help="how trials are chosen (default tpe)")
    tune.add_argument("--pruner", default="median", choices=["median", "hyperband", "none"],
                      help="how hopeless trials are stopped early (default median)")  # fmt: skip
    tune.add_argument("--heartbeat", type=int, default=60,
                      help="PostgreSQL: seconds before a silent worker's trial is failed (default 60)")  # fmt: skip
    tune.add_argument("--studies-dir", default="studies", help="where study folders go (default: studies)")
    tune.add_argument("--runs-dir", default="runs", help="where --final writes its run (default: runs)")
    _add_data_dir(tune)
    tune.add_argument("--quiet", action="store_true", help="print only the path of best.toml")
    tune.set_defaults(handler=cmd_tune)

    studies = commands.add_parser("studies", help="list the studies; `studies show NAME` for one")
    studies.add_argument("action", nargs="?", choices=["show"], help="show one study")
    studies.add_argument("name", nargs="?", help="the study to show")
    studies.add_argument("--studies-dir", default="studies", help="where study folders are (default: studies)")
    studies.add_argument("--storage", help="the study's PostgreSQL URL, when study.json cannot say it (a password)")
    studies.add_argument("--json", action="store_true")
    studies.set_defaults(handler=cmd_studies)

    spaces = commands.add_parser("spaces", help="list the shipped search spaces, or print one")
    spaces.add_argument("name", nargs="?")
    spaces.set_defaults(handler=cmd_spaces)

    recipes = commands.add_parser("recipes", help="list the shipped recipes, or print one")
    recipes.add_argument("name", nargs="?")
    recipes.set_defaults(handler=cmd_recipes)

    models = commands.add_parser("models", help="list the architectures in the registry")
    models.set_defaults(handler=cmd_models)
    return parser


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="folder with the four IDX files (else $PROVADOR_DATA_DIR, cache, system)")


def _overrides(assignments: list[str]) -> dict:
    from provador.recipes import parse_override

    return dict(parse_override(a) for a in assignments)


def _number(text: str) -> int | float:
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise ProvadorError(f"Expected --validation to be a count or a fraction. Received: {text!r}") from None


# --- commands -----------------------------------------------------------------


def cmd_data_info(args) -> None:
    from provador.datasets import load_dataset

    data = load_dataset(data_dir=args.data_dir, validation=_number(args.validation), split=args.split, seed=0)
    summary = data.summary()
    summary["train_full"] = {"images_shape": [len(data.y_train) + len(data.y_valid), *data.x_train.shape[1:]]}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    src = summary["source"]
    print(f"Dataset: {src['dataset']}, from {src['directory']} ({src['found_via']})")
    if src["dataset"] == "fashion-mnist":
        print("Content hashes: all four files match the published SHA-256")
    print(f"Full training set: {tuple(summary['train_full']['images_shape'])} {summary['train']['images_dtype']}")
    print(f"Validation: {args.validation} images, split `{args.split}`\n")
    print(f"{'split':<7}{'images':<20}{'dtype':<8}labels")
    for name in ("train", "valid", "test"):
        part = summary[name]
        print(f"{name:<7}{str(tuple(part['images_shape'])):<20}{part['images_dtype']:<8}{tuple(part['labels_shape'])}")
    print(f"\n{'class':<14}{'train':>7}{'valid':>7}{'test':>7}")
    for cls in summary["classes"]:
        print(f"{cls:<14}" + "".join(f"{summary[s]['per_class'][cls]:>7}" for s in ("train", "valid", "test")))


def cmd_inspect(args) -> None:
    import numpy as np

    if bool(args.run) == bool(args.model):
        raise ProvadorError("Expected either a run directory or --model NAME (e.g. `provador inspect --model mlp`).")
    if args.run:
        from provador.runs import Run

        model = Run(args.run).load_model()
    else:
        from provador.models import build_model

        model = build_model(args.model, **_overrides(args.set))
    if args.layer is None:
        model.summary()
        print("\nLayers (use --layer INDEX or --layer NAME):")
        for i, layer in enumerate(model.layers):
            print(f"  [{i}] {layer.name:<12} {type(layer).__name__:<12} params={layer.count_params():,}")
        chosen = model.layers if args.weights else []
    else:
        chosen = [_pick_layer(model, args.layer)]
        layer = chosen[0]
        print(f"Layer {model.layers.index(layer)}: {layer.name} ({type(layer).__name__}), "
              f"output shape {tuple(layer.output.shape)}, {layer.count_params():,} parameters")  # fmt: skip
        if not args.weights:
            print("Add --weights to see its weights.")
    for layer in chosen:
        for var in layer.weights:
            values = np.asarray(var.numpy())
            print(f"\n{layer.name}/{var.name}: shape {values.shape}, mean {values.mean():.5f}, "
                  f"std {values.std():.5f}, min {values.min():.5f}, max {values.max():.5f}")  # fmt: skip
            print(np.array2string(values, threshold=60, edgeitems=3, precision=8))


def _pick_layer(model, key: str):
    if key.lstrip("-").isdigit():
        index = int(key)
        if not -len(model.layers) <= index < len(model.layers):
            raise ProvadorError(
                f"Layer index {index} is out of range: this model has layers 0 to {len(model.layers) - 1}."
            )
        return model.layers[index]
    names = [layer.name for layer in model.layers]
    if key not in names:
        raise ProvadorError(f"No layer named {key!r}. Layers: {', '.join(names)}.")
    return model.get_layer(key)


def cmd_train(args) -> None:
    from provador.training import train

    run = train(
        args.recipe, overrides=_overrides(args.set), epochs=args.epochs, seed=args.seed,
        runs_dir=args.runs_dir, data_dir=args.data_dir, quiet=args.quiet,
    )  # fmt: skip
    if args.quiet:
        print(run.path)


def cmd_evaluate(args) -> None:
    from provador.evaluation import evaluate, format_report

    result = evaluate(args.run, data_dir=args.data_dir)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


def cmd_report(args) -> None:
    from provador.report import build_report

    print(f"Report: {build_report(args.run, data_dir=args.data_dir)}")


def cmd_runs(args) -> None:
    from provador import runs

    if args.compare:
        from provador.compare import compare_runs, format_comparison

        result = compare_runs(args.compare, args.output)
        print(json.dumps(result, indent=2) if args.json else format_comparison(result))
        return
    rows = runs.list_runs(args.runs_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print(f"No runs in {args.runs_dir} yet: `provador train` makes one.")
        return

    def pct(value):
        return f"{value:.4f}" if isinstance(value, (int, float)) else "-"

    print(f"{'run':<32} {'recipe':<10} {'model':<6} {'epochs':>6} {'val acc':>8} {'test acc':>8} {'time s':>7}  status")
    for r in rows:
        seconds = f"{r['training_seconds']:.1f}" if r["training_seconds"] is not None else "-"
        print(f"{r['run']:<32} {r['recipe']:<10} {r['model']:<6} {r['epochs'] or '-':>6} {pct(r['val_accuracy']):>8} "
              f"{pct(r['test_accuracy']):>8} {seconds:>7}  {r['status']}")  # fmt: skip


def cmd_predict(args) -> int:
    from provador.inference import Predictor, parse_indices

    if args.top < 1:
        raise ProvadorError(f"Expected --top to be a positive integer. Received: {args.top}")
    predictor = Predictor(args.run, top_k=args.top)
    predictions = []
    if args.test_index or not args.images:
        from provador.datasets import dataset_for

        data = dataset_for(predictor.run_.recipe, args.data_dir, progress=False)
        indices = parse_indices(args.test_index or "0:5", len(data.x_test))
        predictions += predictor.predict(
            data.x_test[indices], sources=[f"test[{i}]" for i in indices], labels=data.y_test[indices]
        )
    failures: list[tuple[str, str]] = []
    if args.images:
        predictions += predictor.predict_files(
            args.images, show_input=args.show_input, errors=failures, progress=sys.stderr.isatty()
        )
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    else:
        _print_predictions(predictions, args.show_input)
    if failures:
        for path, message in failures:
            print(f"Skipped {path}: {message}", file=sys.stderr)
        print(
            f"Error: {len(failures)} of {len(failures) + len(predictions)} files could not be read (listed above); "
            "the others were answered.",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_predictions(predictions, show_input) -> None:
    for p in predictions:
        truth = ""
        if p.true_label is not None:
            truth = f"  (true: {p.true_label}{'' if p.true_label == p.label else ', WRONG'})"
        top = ", ".join(f"{name} {prob:.1%}" for name, prob in p.top)
        guess = f"  (not sure: {p.low_confidence_reason}; see the top classes)" if p.low_confidence else ""
        print(f"{p.source}: {p.label} {p.probability:.1%}{truth}{guess}\n    top-{len(p.top)}: {top}")
    if show_input:
        print(f"The 28×28 images the model saw are in {show_input}")


def cmd_serve(args) -> None:
    from provador.runs import Run
    from provador.serve import serve

    run = Run(args.run)
    _ = run.model_path  # fail now, with a clear message, if there is no model
    reach = (
        "this machine only; use --host 0.0.0.0 to let other machines on your network in"
        if args.host in ("127.0.0.1", "localhost", "::1")
        else "reachable from other machines: anyone who can reach this address can use it"
    )
    print(f"Serving {run.path.name} on http://{args.host}:{args.port}/  (bound to {args.host}: {reach})")
    print(f"API docs: http://{args.host}:{args.port}/docs   Stop with Ctrl-C.")
    serve(run, host=args.host, port=args.port, data_dir=args.data_dir, access_log=args.access_log)


def cmd_tune(args) -> None:
    from provador.tuning import tune

    summary = tune(
        args.recipe, args.space, trials=args.trials, timeout=args.timeout, trial_time=args.trial_time, study=args.study, storage=args.storage,
        workers=args.workers, resume=args.resume, final=args.final, overrides=_overrides(args.set),
        studies_dir=args.studies_dir, runs_dir=args.runs_dir, data_dir=args.data_dir, sampler=args.sampler,
        pruner=args.pruner, heartbeat=args.heartbeat, quiet=args.quiet,
    )  # fmt: skip
    if args.quiet and summary.best_recipe:
        print(summary.best_recipe)


def cmd_studies(args) -> None:
    from provador import studies

    if args.action == "show" or args.name:
        if not args.name:
            raise ProvadorError(
                "Expected the study's name: `provador studies show NAME` (`provador studies` lists them)."
            )
        summary = studies.refresh(args.name, studies_dir=args.studies_dir, storage=args.storage)
        if args.json:
            print(json.dumps(summary.to_dict(), indent=2))
            return
        print(studies.trials_table(Path(summary.folder)))
        print(studies.format_summary(summary))
        print(f"Pictures: {', '.join(str(Path(summary.folder) / name) for name in studies.PICTURES)}")
        print(f"Trial runs: provador runs --runs-dir {Path(summary.folder) / studies.TRIALS_DIR}")
        return
    rows = studies.list_studies(args.studies_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print(f"No studies in {args.studies_dir}/ yet: `provador tune` makes one.")
        return
    print(f"{'study':<22} {'space':<8} {'recipe':<12} {'done':>5} {'pruned':>6} {'failed':>6} {'best val':>9} "
          f"{'trial':>5}  {'final test':>10}  storage")  # fmt: skip
    for r in rows:
        t = r["trials"]
        best = f"{r['best_val_accuracy']:.4f}" if r["best_val_accuracy"] is not None else "-"
        final = f"{r['final_test_accuracy']:.4f}" if r["final_test_accuracy"] is not None else "-"
        print(f"{r['study']:<22} {r['space'] or '':<8} {r['recipe'] or '':<12} {t.get('complete', 0):>5} "
              f"{t.get('pruned', 0):>6} {t.get('failed', 0):>6} {best:>9} {r['best_trial'] if r['best_trial'] is not None else '-':>5}"
              f"  {final:>10}  {r['storage']}")  # fmt: skip


def cmd_spaces(args) -> None:
    from provador.spaces import list_spaces, load_space

    if args.name:
        print(load_space(args.name).text, end="")
        return
    for name in list_spaces():
        space = load_space(name)
        print(f"{name:<6} recipe {space.recipe or '-':<10} {space.description}")


def cmd_recipes(args) -> None:
    from provador.recipes import list_recipes, load_recipe

    if args.name:
        print(load_recipe(args.name).to_toml(), end="")
        return
    for name in list_recipes():
        recipe = load_recipe(name)
        print(f"{name:<12} {recipe.model.architecture:<6} {recipe.description}")


def cmd_models(args) -> None:
    from provador.models import describe_models

    for name, summary in describe_models():
        print(f"{name:<8} {summary}")


if __name__ == "__main__":
    sys.exit(main())
