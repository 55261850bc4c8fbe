"""The parser every command group adds itself to: argparse in provador's language, a "did you
mean" built from the parser's own choices, and the options several commands share."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import sys

from provador.base.choices import RUNS_DIR, STUDIES_DIR, TRACKERS
from provador.base.errors import ProvadorError
from provador.base.i18n import N_, _, ngettext


@contextlib.contextmanager
def argparse_translated():
    """argparse looks its own words up through module-level gettext, when a parser is built and
    when it parses: point those lookups at provador's catalog meanwhile."""
    saved = argparse._, argparse.ngettext
    argparse._, argparse.ngettext = _, ngettext
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved


def take_language(argv: list[str]) -> tuple[list[str], str | None]:
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


class Parser(argparse.ArgumentParser):
    """argparse with a "did you mean" for a mistyped command, choice or option (Python 3.11's has
    none), and without abbreviations: `train --epoch 2` is a mistake to point out, not `--epochs 2`.

    The suggestion comes from the parser's own choices and options, never from the wording of
    argparse's message (which differs between Python releases and languages)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    # The word to suggest when the parse fails: set where argparse meets the mistake (a value
    # outside an option's or the commands' choices, an unknown option), printed by `error`. Held
    # on the class because a subcommand's parser may meet it and the top one report it.
    _suggestion: str | None = None

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            Parser._suggest(value, [str(choice) for choice in action.choices])
        return super()._check_value(action, value)

    def parse_known_args(self, args=None, namespace=None):
        parsed, extra = super().parse_known_args(args, namespace)
        options = option_strings(self)
        for word in (w.split("=")[0] for w in extra if w.startswith("-")):
            if Parser._suggest(word, options):
                break
        return parsed, extra

    @staticmethod
    def _suggest(word: str, candidates: list[str]) -> bool:
        close = difflib.get_close_matches(word, candidates, n=1)
        Parser._suggestion = close[0] if close else None
        return bool(close)

    def error(self, message: str):
        self.print_usage(sys.stderr)
        hint = _("Try '{command} --help'.").format(command=self.prog)
        suggestion = Parser._suggestion
        Parser._suggestion = None
        did_you_mean = ". " + _("Did you mean `{word}`?").format(word=suggestion) if suggestion else ""
        self.exit(2, _("{command}: error: {message}").format(command=self.prog, message=message)
                  + f"{did_you_mean}\n{hint}\n")  # fmt: skip


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every long option of the parser and of its subcommands, for suggestions."""
    found = []
    for action in parser._actions:
        found += [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += option_strings(sub)
    return sorted(set(found))


# --- options several commands share -------------------------------------------------------------


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help=_("folder with the four IDX files (else $PROVADOR_DATA_DIR, cache, system)"))


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=_("print JSON"))


def add_runs_dir(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--runs-dir", default=RUNS_DIR, help=help_text.format(default=RUNS_DIR))


def add_studies_dir(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--studies-dir", default=STUDIES_DIR, help=help_text.format(default=STUDIES_DIR))


def add_set(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=help_text)


def add_photos(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--photos", action="append", default=[], metavar="DIR",
        help=_("a folder of labelled photos, one subfolder per class (DIR/Sneaker/photo.jpg); may be repeated"),
    )  # fmt: skip
    parser.add_argument(
        "--label", action="append", default=[], metavar="FOLDER=CLASS",
        help=_("the class of photo subfolders named otherwise, e.g. footwear-shoes=Sneaker; may be repeated"),
    )  # fmt: skip


def labels(args) -> dict[str, str]:
    from provador.core.photo_folders import parse_labels

    return parse_labels(args.label)


def overrides(assignments: list[str]) -> dict:
    from provador.core.recipes import parse_override

    return dict(parse_override(a) for a in assignments)


def count_or_fraction(text: str) -> int | float:
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        raise ProvadorError(
            _("Expected --validation to be a count or a fraction. Received: {value!r}").format(value=text)
        ) from None


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(
            _("expected a TCP port from 1 to 65535, received {value!r}").format(value=text)
        )
    return int(text)


def add_tracking(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--track", action="append", choices=[*TRACKERS, "none"], metavar="TOOL",
        help=_("also send the run to MLflow (to --tracking-uri, else $MLFLOW_TRACKING_URI) or write TensorBoard event "
               "files in it: mlflow, tensorboard or none; may be repeated (default: mlflow when "
               "$MLFLOW_TRACKING_URI is set)"),
    )  # fmt: skip
    parser.add_argument(
        "--tracking-uri", metavar="URI", help=_("the MLflow tracking server, e.g. http://127.0.0.1:5000")
    )
    parser.add_argument(
        "--experiment",
        metavar="NAME",
        help=_("the MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, else provador)"),
    )


def tracking(args):
    """What --track, --tracking-uri and --experiment ask for (a `provador.work.tracking.Tracking`)."""
    from provador.work.tracking import Tracking  # here: the parser loads no Keras

    return Tracking.parse(args.track, args.tracking_uri, args.experiment)
