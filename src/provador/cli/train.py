"""`provador train` and `provador adapt`: a recipe into a run, a run into one that knows your photos."""

from __future__ import annotations

from provador.base.errors import ProvadorError
from provador.base.i18n import _
from provador.cli.parser import (
    add_data_dir,
    add_photos,
    add_runs_dir,
    add_set,
    add_tracking,
    labels,
    overrides,
    tracking,
)


def register(commands) -> None:
    train = commands.add_parser("train", help=_("train a recipe and write a run directory"))
    train.add_argument("--recipe", help=_("a shipped recipe name or a .toml path (default: seed)"))
    _add_training_options(train)
    train.set_defaults(handler=train_recipe)

    adapt = commands.add_parser(
        "adapt", help=_("teach a trained run your labelled photos: a new run that starts from its weights")
    )
    adapt.add_argument("run", nargs="?", help=_("a completed run to start from"))
    add_photos(adapt)
    _add_training_options(adapt)
    adapt.set_defaults(handler=adapt_run)


def _add_training_options(parser) -> None:
    """The options `train` and `adapt` share."""
    parser.add_argument("--epochs", type=int, help=_("override training.epochs"))
    add_set(parser, _("override any recipe key, e.g. training.learning_rate=0.05"))
    add_runs_dir(parser, _("where run directories go (default: {default})"))
    parser.add_argument("--seed", type=int, help=_("override the recipe's seed"))
    add_data_dir(parser)
    parser.add_argument("--quiet", action="store_true", help=_("print only the run's path"))
    parser.add_argument(
        "--resume", metavar="RUN", help=_("continue an interrupted, killed or failed run from its last whole epoch")
    )
    parser.add_argument(
        "--keep-checkpoints", action="store_true", help=_("keep the run's checkpoint.npz once it completes")
    )
    add_tracking(parser)


def train_recipe(args) -> None:
    from provador.workflow import train

    if args.resume and args.recipe:
        raise ProvadorError(_("A resumed run keeps its own recipe: drop --recipe with --resume."))
    run = train(
        args.recipe or "seed", overrides=overrides(args.set), epochs=args.epochs, seed=args.seed,
        runs_dir=args.runs_dir, data_dir=args.data_dir, quiet=args.quiet, resume=args.resume,
        keep_checkpoints=args.keep_checkpoints, track=tracking(args),
    )  # fmt: skip
    if args.quiet:
        print(run.path)


def adapt_run(args) -> None:
    from provador.workflow import adapt

    if not args.resume and (not args.run or not args.photos):
        raise ProvadorError(
            _("Name the run to adapt and at least one photo folder: provador adapt RUN --photos DIR "
              "(or continue an adapted run with --resume RUN).")
        )  # fmt: skip
    if args.resume and (args.run or args.photos or args.label):
        raise ProvadorError(_("A resumed run keeps its own parent and photos: drop RUN and --photos with --resume."))
    run = adapt(
        args.run, args.photos, overrides=overrides(args.set), epochs=args.epochs, seed=args.seed,
        runs_dir=args.runs_dir, data_dir=args.data_dir, quiet=args.quiet, resume=args.resume,
        keep_checkpoints=args.keep_checkpoints, labels=labels(args), track=tracking(args),
    )  # fmt: skip
    if args.quiet:
        print(run.path)
