"""The `provador` command. Thin: every command is one library call plus printing.

One module per command group, each with its options beside its handler (`register` adds them to
the parser); this module runs the one chosen. The library loads only inside a handler, so
`provador --help` and the listing commands start without Keras or JAX (bench/README.md).
"""

from __future__ import annotations

import os
import sys

from provador.base.errors import ProvadorError
from provador.base.i18n import LANGUAGES, _, check_language, language
from provador.cli import catalog, data, results, search, serving, train
from provador.cli.parser import Parser, argparse_translated, take_language

GROUPS = (data, train, results, serving, search, catalog)  # in the order `provador --help` lists them


def main(argv: list[str] | None = None) -> int:
    argv, chosen = take_language(list(sys.argv[1:] if argv is None else argv))
    try:
        if chosen:
            check_language(chosen)
    except ProvadorError as exc:
        print(_("Error: {message}").format(message=exc), file=sys.stderr)
        return 2
    # The language holds for this command only (a notebook or a test calling main() keeps its own).
    with language(chosen), argparse_translated():  # before the parser: its help is translated too
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra and getattr(args, "images", None) is not None and not any(w.startswith("-") for w in extra):
            # `predict RUN --test-index 0:3 photo.jpg`: argparse has already closed the IMAGE list
            # when an option came between, so the images after it come back here.
            args.images += extra
        elif extra:
            parser.error(_("unrecognized arguments: %s") % " ".join(extra))
        return _run(args)


def build_parser() -> Parser:
    from provador import __version__

    parser = Parser(
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
    for group in GROUPS:
        group.register(commands)
    return parser


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


__all__ = ["main", "build_parser"]
