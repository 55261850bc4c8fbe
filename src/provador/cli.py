"""The `provador` command. Thin: every command is one library call plus printing."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import re
import sys
from pathlib import Path

from provador.choices import ENGINES, EXPORT_FORMATS, PRUNERS, SAMPLERS, STRATEGIES
from provador.errors import ProvadorError
from provador.i18n import LANGUAGES, N_, _, check_language, class_name, language, ngettext, number, percent


def main(argv: list[str] | None = None) -> int:
    argv, chosen = _take_language(list(sys.argv[1:] if argv is None else argv))
    try:
        if chosen:
            check_language(chosen)
    except ProvadorError as exc:
        print(_("Error: {message}").format(message=exc), file=sys.stderr)
        return 2
    # The language holds for this command only (a notebook or a test calling main() keeps its own).
    with language(chosen), _argparse_translated():  # before the parser: its help is translated too
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and getattr(args, "images", None) is not None and not any(w.startswith("-") for w in extra):
            # `predict RUN --test-index 0:3 photo.jpg`: argparse has already closed the IMAGE list
            # when an option came between, so the images after it come back here.
            args.images += extra
        elif extra:
            parser.error(_("unrecognized arguments: %s") % " ".join(extra))
        return _run(args)


def _run(args) -> int:
    try:
        code = args.handler(args) or 0
        sys.stdout.flush()  # here, so that a closed pipe is caught below rather than at exit
        return code
    except ProvadorError as exc:
        print(_("Error: {message}").format(message=exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        hint = getattr(exc, "hint", "")  # e.g. how to resume the run that was training
        print("\n" + _("Interrupted.") + (f" {hint}" if hint else ""), file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped reading (`provador data info | head -3`): stop quietly, as Unix
        # tools do; what is still buffered goes nowhere instead of into a traceback at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


@contextlib.contextmanager
def _argparse_translated():
    """argparse looks its own words up through module-level gettext, when a parser is built and
    when it parses: point those lookups at provador's catalog meanwhile."""
    saved = argparse._, argparse.ngettext
    argparse._, argparse.ngettext = _, ngettext
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


def _take_language(argv: list[str]) -> tuple[list[str], str | None]:
    """`--lang X` / `--lang=X` anywhere on the line, taken out of it (it is no command's option)."""
    rest, chosen, i = [], None, 0
    while i < len(argv):
        word = argv[i]
        if word == "--lang" and i + 1 < len(argv):
            chosen, i = argv[i + 1], i + 2
            continue
        if word.startswith("--lang="):
            chosen = word.split("=", 1)[1]
        else:
            rest.append(word)
        i += 1
    return rest, chosen


# argparse's own words (it looks them up through gettext): in the catalog, so `--help` reads in one language.
ARGPARSE_WORDS = (N_("usage: "), N_("options"), N_("positional arguments"), N_("commands"),
                  N_("show this help message and exit"), N_("show program's version number and exit"),
                  N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
                  N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("expected one argument"),
                  N_("argument %(argument_name)s: %(message)s"), N_("invalid %(type)s value: %(value)r"))  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for a mistyped command or option (Python 3.11's has none),
    and without abbreviations: `train --epoch 2` is a mistake to point out, not `--epochs 2`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.print_usage(sys.stderr)
        hint = _("Try '{command} --help'.").format(command=self.prog)
        self.exit(2, _("{command}: error: {message}").format(command=self.prog, message=message)
                  + f"{self._suggestion(message)}\n{hint}\n")  # fmt: skip

    def _suggestion(self, message: str) -> str:
        choice = re.search(r": '([^']*)' \([^']*?('.*)\)$", message)  # invalid choice: 'x' (choose from 'a', 'b')
        if choice:
            close = difflib.get_close_matches(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)), n=1)
            return ". " + _("Did you mean `{word}`?").format(word=close[0]) if close else ""
        unknown = re.search(r"^[^:]*: (-.*)$", message)  # unrecognized arguments: --x --y
        if unknown:
            options = _option_strings(self)
            for word in unknown.group(1).split():
                close = difflib.get_close_matches(word.split("=")[0], options, n=1) if word.startswith("-") else []
                if close:
                    return ". " + _("Did you mean `{word}`?").format(word=close[0])
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
        description=_("Train, evaluate, explain and serve Fashion-MNIST classifiers (Keras 3).")
        + " "
        + _("Language: --lang pt|en on any command, or PROVADOR_LANG / LANG (e.g. LANG=pt_BR.UTF-8)."),
    )
    parser.add_argument("--version", action="version", version=f"provador {__version__}")
    parser.add_argument(
        "--lang", choices=list(LANGUAGES), help=_("language of what provador prints (default: from LANG)")
    )
    commands = parser.add_subparsers(title=_("commands"), required=True, metavar="COMMAND")

    data = commands.add_parser("data", help=_("about the dataset")).add_subparsers(required=True, metavar="ACTION")
    info = data.add_parser("info", help=_("where the data came from, shapes, classes, hash check"))
    _add_data_dir(info)
    info.add_argument("--validation", default="1000", help=_("validation images: a count or a fraction (default 1000)"))
    info.add_argument("--split", default="first", choices=STRATEGIES)
    info.add_argument("--json", action="store_true", help=_("print JSON"))
    _add_photos(info, required=False)
    info.set_defaults(handler=cmd_data_info)

    inspect = commands.add_parser("inspect", help=_("model summary, layers and weights"))
    inspect.add_argument("run", nargs="?", help=_("a run directory (or use --model)"))
    inspect.add_argument("--model", help=_("an architecture from the registry, untrained (e.g. mlp)"))
    inspect.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help=_("model parameter, e.g. hidden=[512,256]")
    )
    inspect.add_argument("--layer", help=_("one layer, by index (1) or name (dense)"))
    inspect.add_argument("--weights", action="store_true", help=_("show weights: shapes, statistics and values"))
    inspect.set_defaults(handler=cmd_inspect)

    train = commands.add_parser("train", help=_("train a recipe and write a run directory"))
    train.add_argument("--recipe", help=_("a shipped recipe name or a .toml path (default: seed)"))
    _add_training_options(train)
    train.set_defaults(handler=cmd_train)

    adapt = commands.add_parser(
        "adapt", help=_("teach a trained run your labelled photos: a new run that starts from its weights")
    )
    adapt.add_argument("run", nargs="?", help=_("a completed run to start from"))
    _add_photos(adapt, required=False)
    _add_training_options(adapt)
    adapt.set_defaults(handler=cmd_adapt)

    evaluate = commands.add_parser("evaluate", help=_("test loss and accuracy of a run"))
    evaluate.add_argument("run")
    _add_data_dir(evaluate)
    evaluate.add_argument("--json", action="store_true")
    _add_photos(evaluate, required=False)
    evaluate.add_argument(
        "--record",
        action="store_true",
        help=_("write the result into the run's metrics.json (default: leave the run as it is)"),
    )
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help=_("class names and probabilities for test images or image files"))
    predict.add_argument("run")
    predict.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help=_(
            "image files or folders (searched recursively): photos (JPEG, PNG, WebP, GIF, BMP, TIFF) "
            "or 28×28 dataset-style images"
        ),
    )
    predict.add_argument(
        "--show-input", metavar="DIR", help=_("save the 28×28 image the model saw for each file in DIR")
    )
    predict.add_argument("--test-index", help=_("test images by index: 0:5, 7 or 1,4,9 (default 0:5 when no IMAGE)"))
    predict.add_argument("--top", type=int, default=3, help=_("how many classes to list per image (default 3)"))
    _add_data_dir(predict)
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(handler=cmd_predict)

    report = commands.add_parser("report", help=_("evaluate a run again and redraw its pictures and report.html"))
    report.add_argument("run")
    _add_data_dir(report)
    _add_photos(report, required=False)
    report.set_defaults(handler=cmd_report)

    runs = commands.add_parser("runs", help=_("a table of the runs; --compare puts runs side by side"))
    runs.add_argument("--runs-dir", default="runs", help=_("where run directories are (default: runs)"))
    runs.add_argument(
        "--compare", nargs="+", metavar="RUN", help=_("runs to compare: curves on one plot, metrics side by side")
    )
    runs.add_argument("--output", help=_("where --compare writes its plot (default: compare.png in the runs folder)"))
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(handler=cmd_runs)

    serve = commands.add_parser("serve", help=_("HTTP API and web page for a trained run"))
    serve.add_argument("run")
    serve.add_argument("--host", default="127.0.0.1", help=_("address to bind (default 127.0.0.1: this machine only)"))
    serve.add_argument("--port", type=_port, default=8000, help=_("TCP port, 1-65535 (default 8000)"))
    serve.add_argument("--access-log", action="store_true", help=_("log every request"))
    serve.add_argument(
        "--engine", choices=ENGINES, default="keras",
        help=_("what computes the answers: the Keras model (default) or onnxruntime on RUN/export/model.onnx"),
    )  # fmt: skip
    serve.add_argument(
        "--collect", metavar="DIR",
        help=_("let the page keep labelled photos (\"this is a …\") in DIR/<class>/, for `provador adapt`"),
    )  # fmt: skip
    _add_data_dir(serve)
    serve.set_defaults(handler=cmd_serve)

    from provador.export import FORMATS, LOADERS

    formats = "\n".join(
        f"  {name:<12} {_(purpose)}\n  {'':<12} {LOADERS[name]}" for name, (_file, purpose) in FORMATS.items()
    )
    export = commands.add_parser(
        "export", help=_("write a run's model as ONNX, TensorFlow SavedModel or LiteRT, verified"),
        description=_("Export a run's model (raw uint8 pixels [batch, 28, 28] in, probabilities out, calibration and "
                      "mirror averaging inside), check it against the model on 1,000 test images, and write it only "
                      "if it answers the same.") + "\n\n" + _("Formats:") + "\n" + formats,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    export.add_argument("run")
    export.add_argument(
        "--format", choices=(*EXPORT_FORMATS, "all"), default="onnx",
        help=_("default: onnx; all: the three, made in one TensorFlow process"),
    )  # fmt: skip
    export.add_argument(
        "--output",
        help=_("where to write it (default: RUN/export/model.onnx, saved_model, model.tflite); with --format all, a folder"),
    )  # fmt: skip
    export.add_argument(
        "--force", action="store_true",
        help=_("replace an existing file that is not an earlier export (never a folder, never a run's own file)"),
    )  # fmt: skip
    export.add_argument("--json", action="store_true")
    _add_data_dir(export)
    export.set_defaults(handler=cmd_export)

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
    tune.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=_("override a key of the recipe (fixed in every trial)"),
    )
    tune.add_argument("--sampler", default="tpe", choices=SAMPLERS, help=_("how trials are chosen (default tpe)"))
    tune.add_argument("--pruner", default="median", choices=PRUNERS,
                      help=_("how hopeless trials are stopped early (default median)"))  # fmt: skip
    tune.add_argument("--heartbeat", type=int, default=60,
                      help=_("PostgreSQL: seconds before a silent worker's trial is failed (default 60)"))  # fmt: skip
    tune.add_argument("--studies-dir", default="studies", help=_("where study folders go (default: studies)"))
    tune.add_argument("--runs-dir", default="runs", help=_("where --final writes its run (default: runs)"))
    _add_data_dir(tune)
    tune.add_argument("--quiet", action="store_true", help=_("print only the path of best.toml"))
    tune.set_defaults(handler=cmd_tune)

    studies = commands.add_parser("studies", help=_("list the studies; `studies show NAME` for one"))
    studies.add_argument("action", nargs="?", choices=["show"], help=_("show one study"))
    studies.add_argument("name", nargs="?", help=_("the study to show"))
    studies.add_argument("--studies-dir", default="studies", help=_("where study folders are (default: studies)"))
    studies.add_argument(
        "--storage",
        help=_("the study's PostgreSQL URL (needed for a study there: provador never connects where a file says)"),
    )
    studies.add_argument("--json", action="store_true")
    studies.set_defaults(handler=cmd_studies)

    spaces = commands.add_parser("spaces", help=_("list the shipped search spaces, or print one"))
    spaces.add_argument("name", nargs="?")
    spaces.set_defaults(handler=cmd_spaces)

    recipes = commands.add_parser("recipes", help=_("list the shipped recipes, or print one"))
    recipes.add_argument("name", nargs="?")
    recipes.set_defaults(handler=cmd_recipes)

    models = commands.add_parser("models", help=_("list the architectures in the registry"))
    models.set_defaults(handler=cmd_models)
    return parser


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    """The options `train` and `adapt` share."""
    parser.add_argument("--epochs", type=int, help=_("override training.epochs"))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=_("override any recipe key, e.g. training.learning_rate=0.05"),
    )
    parser.add_argument("--runs-dir", default="runs", help=_("where run directories go (default: runs)"))
    parser.add_argument("--seed", type=int, help=_("override the recipe's seed"))
    _add_data_dir(parser)
    parser.add_argument("--quiet", action="store_true", help=_("print only the run's path"))
    parser.add_argument(
        "--resume", metavar="RUN", help=_("continue an interrupted, killed or failed run from its last whole epoch")
    )
    parser.add_argument(
        "--keep-checkpoints", action="store_true", help=_("keep the run's checkpoint.npz once it completes")
    )


def _add_photos(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--photos", action="append", default=[], metavar="DIR", required=required,
        help=_("a folder of labelled photos, one subfolder per class (DIR/Sneaker/photo.jpg); may be repeated"),
    )  # fmt: skip
    parser.add_argument(
        "--label", action="append", default=[], metavar="FOLDER=CLASS",
        help=_("the class of photo subfolders named otherwise, e.g. footwear-shoes=Sneaker; may be repeated"),
    )  # fmt: skip


def _labels(args) -> dict[str, str]:
    from provador.photo_folders import parse_labels

    return parse_labels(args.label)


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help=_("folder with the four IDX files (else $PROVADOR_DATA_DIR, cache, system)"))


def _overrides(assignments: list[str]) -> dict:
    from provador.recipes import parse_override

    return dict(parse_override(a) for a in assignments)


def _number(text: str) -> int | float:
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise ProvadorError(
            _("Expected --validation to be a count or a fraction. Received: {value!r}").format(value=text)
        ) from None


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(
            _("expected a TCP port from 1 to 65535, received {value!r}").format(value=text)
        )
    return int(text)


# --- commands -----------------------------------------------------------------


def cmd_data_info(args) -> None:
    from provador.datasets import load_dataset

    if args.photos:  # the photos alone, sorted into Fashion-MNIST's classes: no need to load the dataset
        from provador.adaptation import describe
        from provador.datasets import FASHION_MNIST_CLASSES
        from provador.photo_folders import read_photo_folders

        photo_set = read_photo_folders(args.photos, FASHION_MNIST_CLASSES, progress=not args.json, labels=_labels(args))
        print(json.dumps(photo_set.summary(), indent=2) if args.json else describe(photo_set))
        return
    data = load_dataset(data_dir=args.data_dir, validation=_number(args.validation), split=args.split, seed=0)
    summary = data.summary()
    summary["train_full"] = {"images_shape": [len(data.y_train) + len(data.y_valid), *data.x_train.shape[1:]]}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    src = summary["source"]
    print(_("Dataset: {name}, from {directory} ({how})").format(
        name=src["dataset"], directory=src["directory"], how=_(src["found_via"])
    ))  # fmt: skip
    if src["dataset"] == "fashion-mnist":
        print(_("Content hashes: all four files match the published SHA-256"))
    print(_("Full training set: {shape} {dtype}").format(
        shape=tuple(summary["train_full"]["images_shape"]), dtype=summary["train"]["images_dtype"]
    ))  # fmt: skip
    print(_("Validation: {count} images, split `{split}`").format(count=args.validation, split=args.split) + "\n")
    split, images, dtype, labels = _("split"), _("images"), _("dtype"), _("labels")
    first = max(7, len(split) + 2)
    print(f"{split:<{first}}{images:<20}{dtype:<8}{labels}")
    for name in ("train", "valid", "test"):
        part = summary[name]
        print(
            f"{name:<{first}}{str(tuple(part['images_shape'])):<20}{part['images_dtype']:<8}{tuple(part['labels_shape'])}"
        )
    heading = _("class")
    print(f"\n{heading:<14}{'train':>7}{'valid':>7}{'test':>7}")
    for cls in summary["classes"]:
        print(
            f"{class_name(cls):<14}" + "".join(f"{summary[s]['per_class'][cls]:>7}" for s in ("train", "valid", "test"))
        )


def cmd_inspect(args) -> None:
    import numpy as np

    if bool(args.run) == bool(args.model):
        raise ProvadorError(_("Expected either a run directory or --model NAME (e.g. `provador inspect --model mlp`)."))
    if args.run:
        from provador.runs import Run

        model = Run(args.run).load_model()
    else:
        from provador._keras import keras
        from provador.models import build_model
        from provador.recipes import Recipe

        keras.utils.set_random_seed(Recipe().seed)  # the weights a recipe's training starts from, every time
        model = build_model(args.model, **_overrides(args.set))
    if args.layer is None:
        model.summary()
        print("\n" + _("Layers (use --layer INDEX or --layer NAME):"))
        for i, layer in enumerate(model.layers):
            print(f"  [{i}] {layer.name:<12} {type(layer).__name__:<12} params={layer.count_params():,}")
        chosen = model.layers if args.weights else []
    else:
        layer = _pick_layer(model, args.layer)
        chosen = [layer] if args.weights else []
        print(_("Layer {index}: {name} ({kind}), output shape {shape}, {count} parameters").format(
            index=model.layers.index(layer), name=layer.name, kind=type(layer).__name__,
            shape=tuple(layer.output.shape), count=f"{layer.count_params():,}",
        ))  # fmt: skip
        if not args.weights:
            print(_("Add --weights to see its weights."))
    for layer in chosen:
        for var in layer.weights:
            values = np.asarray(var.numpy())
            print("\n" + _("{name}: shape {shape}, mean {mean}, std {std}, min {low}, max {high}").format(
                name=f"{layer.name}/{var.name}", shape=values.shape, mean=f"{values.mean():.5f}",
                std=f"{values.std():.5f}", low=f"{values.min():.5f}", high=f"{values.max():.5f}",
            ))  # fmt: skip
            print(np.array2string(values, threshold=60, edgeitems=3, precision=8))


def _pick_layer(model, key: str):
    if key.lstrip("-").isdigit():
        index = int(key)
        if not -len(model.layers) <= index < len(model.layers):
            raise ProvadorError(
                _("Layer index {index} is out of range: this model has layers 0 to {last}.").format(
                    index=index, last=len(model.layers) - 1
                )
            )
        return model.layers[index]
    names = [layer.name for layer in model.layers]
    if key not in names:
        raise ProvadorError(_("No layer named {name!r}. Layers: {names}.").format(name=key, names=", ".join(names)))
    return model.get_layer(key)


def cmd_train(args) -> None:
    from provador.workflow import train

    if args.resume and args.recipe:
        raise ProvadorError(_("A resumed run keeps its own recipe: drop --recipe with --resume."))
    run = train(
        args.recipe or "seed", overrides=_overrides(args.set), epochs=args.epochs, seed=args.seed,
        runs_dir=args.runs_dir, data_dir=args.data_dir, quiet=args.quiet, resume=args.resume,
        keep_checkpoints=args.keep_checkpoints,
    )  # fmt: skip
    if args.quiet:
        print(run.path)


def cmd_adapt(args) -> None:
    from provador.workflow import adapt

    if not args.resume and (not args.run or not args.photos):
        raise ProvadorError(
            _("Name the run to adapt and at least one photo folder: provador adapt RUN --photos DIR "
              "(or continue an adapted run with --resume RUN).")
        )  # fmt: skip
    if args.resume and (args.run or args.photos or args.label):
        raise ProvadorError(_("A resumed run keeps its own parent and photos: drop RUN and --photos with --resume."))
    run = adapt(
        args.run, args.photos, overrides=_overrides(args.set), epochs=args.epochs, seed=args.seed,
        runs_dir=args.runs_dir, data_dir=args.data_dir, quiet=args.quiet, resume=args.resume,
        keep_checkpoints=args.keep_checkpoints, labels=_labels(args),
    )  # fmt: skip
    if args.quiet:
        print(run.path)


def cmd_evaluate(args) -> None:
    from provador.evaluation import evaluate, format_report

    if args.photos:
        from provador.photo_scores import format_photo_scores, score_photos

        if args.record:
            raise ProvadorError(_("--record writes the test set's result; drop it with --photos."))
        result = score_photos(args.run, args.photos, labels=_labels(args))
        print(json.dumps(result, indent=2) if args.json else format_photo_scores(result))
        return
    result = evaluate(args.run, data_dir=args.data_dir, record=args.record)
    print(json.dumps(result, indent=2) if args.json else format_report(result))


def cmd_report(args) -> None:
    from provador.report import build_report

    print(
        _("Report: {path}").format(
            path=build_report(args.run, data_dir=args.data_dir, photos=args.photos, labels=_labels(args))
        )
    )


def cmd_runs(args) -> None:
    from provador import runs

    if args.compare:
        from provador.compare import compare_runs, format_comparison

        result = compare_runs(args.compare, args.output or Path(args.runs_dir) / "compare.png")
        print(json.dumps(result, indent=2) if args.json else format_comparison(result))
        return
    rows = runs.list_runs(args.runs_dir)
    if not _table_wanted(rows, args.json, _("No runs in {folder} yet: `provador train` makes one.").format(
            folder=args.runs_dir)):  # fmt: skip
        return

    def pct(value):
        return number(value) if isinstance(value, (int, float)) else "-"

    columns = [(_("run"), "<32"), (_("recipe"), "<10"), (_("model"), "<6"), (_("epochs"), ">6"), (_("val acc"), ">8"),
               (_("test acc"), ">8"), (_("time s"), ">7"), (_("status"), " ")]  # fmt: skip
    _print_table(columns, [
        [r["run"], r["recipe"], r["model"], r["epochs"] or "-", pct(r["val_accuracy"]), pct(r["test_accuracy"]),
         number(r["training_seconds"], 1) if r["training_seconds"] is not None else "-",
         runs.status_text(r)]
        for r in rows
    ])  # fmt: skip


def _print_table(columns: list[tuple[str, str]], rows: list[list]) -> None:
    """Aligned columns, each `(title, "<width" or ">width")`, a title longer than its width (as in
    Portuguese) widening it; the last column, `" "`, is free text after two spaces."""
    specs = [(align[0], max(int(align[1:]), len(title))) for title, align in columns[:-1]]
    for cells in [[title for title, _align in columns], *rows]:
        fixed = " ".join(f"{cell!s:{side}{width}}" for cell, (side, width) in zip(cells, specs))
        print(f"{fixed}  {cells[-1]}")


def _table_wanted(rows: list[dict], as_json: bool, empty: str) -> bool:
    """Print the rows as JSON, or say there are none; True when the caller is to print its table."""
    if as_json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(empty)
    return bool(rows) and not as_json


def cmd_predict(args) -> int:
    from provador.inference import Predictor, parse_indices

    if args.top < 1:
        raise ProvadorError(_("Expected --top to be a positive integer. Received: {value}").format(value=args.top))
    predictor = Predictor(args.run)
    predictions = []
    if args.test_index or not args.images:
        from provador.datasets import dataset_for

        data = dataset_for(predictor.run_.recipe, args.data_dir, progress=False)
        indices = parse_indices(args.test_index or "0:5", len(data.x_test))
        predictions += predictor.predict(
            data.x_test[indices], sources=[f"test[{i}]" for i in indices], labels=data.y_test[indices], top_k=args.top
        )
    failures: list[tuple[str, str]] = []
    from_test_set = len(predictions)  # the summary below counts files only
    if args.images:
        predictions += predictor.predict_files(
            args.images, show_input=args.show_input, errors=failures, progress=sys.stderr.isatty(), top_k=args.top
        )
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    else:
        _print_predictions(predictions, args.show_input)
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
            truth = (
                "  ("
                + (_("true: {label}") if p.true_label == p.label else _("true: {label}, WRONG")).format(
                    label=class_name(p.true_label)
                )
                + ")"
            )
        top = ", ".join(f"{class_name(name)} {percent(prob)}" for name, prob in p.top)
        guess = (
            "  (" + _("not sure: {reason}; see the top classes").format(reason=_(p.low_confidence_reason)) + ")"
            if p.low_confidence
            else ""
        )
        print(f"{p.source}: {class_name(p.label)} {percent(p.probability)}{truth}{guess}\n    top-{len(p.top)}: {top}")
    if show_input:
        print(_("The 28×28 images the model saw are in {folder}").format(folder=show_input))


def cmd_serve(args) -> None:
    from provador.runs import Run
    from provador.serve import serve

    run = Run(args.run)
    run.model_path  # noqa: B018 (fail now, with a clear message, if there is no model)
    reach = (
        _("this machine only; use --host 0.0.0.0 to let other machines on your network in")
        if args.host in ("127.0.0.1", "localhost", "::1")
        else _("reachable from other machines: anyone who can reach this address can use it")
    )
    address = f"http://{args.host}:{args.port}/"

    def banner():  # once the model is loaded and the port is ours
        print(_("Serving {run} on {address}  (bound to {host}: {reach})").format(
            run=run.path.name, address=address, host=args.host, reach=reach))  # fmt: skip
        print(_("API docs: {address}docs   Stop with Ctrl-C.").format(address=address), flush=True)

    if args.collect:
        banner_first = banner

        def banner():
            banner_first()
            print(_("Collecting labelled photos into {folder}: then `provador adapt {run} --photos {folder}`.").format(
                folder=args.collect, run=run.path), flush=True)  # fmt: skip

    serve(run, host=args.host, port=args.port, data_dir=args.data_dir, access_log=args.access_log, engine=args.engine,
          on_listening=banner, collect=args.collect)  # fmt: skip


def cmd_export(args) -> None:
    from provador.export import export, export_all

    if args.format == "all":
        results = export_all(args.run, args.output, data_dir=args.data_dir, force=args.force)
    else:
        results = [export(args.run, args.format, args.output, data_dir=args.data_dir, force=args.force)]
    if args.json:
        dicts = [result.to_dict() for result in results]
        print(json.dumps(dicts if args.format == "all" else dicts[0], indent=2))
        return
    for result in results:
        print(_("Exported {format}: {path}").format(format=result.format, path=result.path))
        print(_("Checked on {images} test images (batches of {sizes}): largest probability difference {difference}, "
                "same class for {agreement}.").format(
            images=number(result.images, 0), sizes=_(" and ").join(map(str, result.batch_sizes)),
            difference=f"{result.max_abs_difference:.1e}", agreement=percent(result.class_agreement)))  # fmt: skip


def cmd_tune(args) -> None:
    from provador.workflow import tune

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
                _("Expected the study's name: `provador studies show NAME` (`provador studies` lists them).")
            )
        summary = studies.refresh(args.name, studies_dir=args.studies_dir, storage=args.storage)
        if args.json:
            print(json.dumps(summary.to_dict(), indent=2))
            return
        print(studies.trials_table(Path(summary.folder)))
        print(studies.format_summary(summary))
        pictures = ", ".join(str(Path(summary.folder) / name) for name in studies.PICTURES)
        print(_("Pictures: {paths}").format(paths=pictures))
        trials = f"provador runs --runs-dir {Path(summary.folder) / studies.TRIALS_DIR}"
        print(_("Trial runs: {command}").format(command=trials))
        return
    rows = studies.list_studies(args.studies_dir)
    if not _table_wanted(rows, args.json, _("No studies in {folder}/ yet: `provador tune` makes one.").format(
            folder=args.studies_dir)):  # fmt: skip
        return
    columns = [(_("study"), "<22"), (_("space"), "<8"), (_("recipe"), "<12"), (_("done"), ">5"), (_("pruned"), ">6"),
               (_("failed"), ">6"), (_("best val"), ">9"), (_("trial"), ">5"), (_("final test"), ">11"),
               (_("storage"), " ")]  # fmt: skip
    _print_table(columns, [
        [r["study"], r["space"] or "", r["recipe"] or "", r["trials"].get("complete", 0), r["trials"].get("pruned", 0),
         r["trials"].get("failed", 0),
         number(r["best_val_accuracy"]) if r["best_val_accuracy"] is not None else "-",
         r["best_trial"] if r["best_trial"] is not None else "-",
         number(r["final_test_accuracy"]) if r["final_test_accuracy"] is not None else "-",
         _("broken ({file} damaged)").format(file=r["broken"]) if r.get("broken") else _(r["storage"] or "")]
        for r in rows
    ])  # fmt: skip


def cmd_spaces(args) -> None:
    from provador.spaces import list_spaces, load_space

    if args.name:
        print(load_space(args.name).text, end="")
        return
    for name in list_spaces():
        space = load_space(name)
        print(
            f"{name:<6} " + _("recipe {recipe}").format(recipe=f"{space.recipe or '-':<10}") + f" {space.description}"
        )


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
