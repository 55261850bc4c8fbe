"""`provador recipes` and `provador models`: what ships with provador (no Keras needed to list it)."""

from __future__ import annotations

from provador.base.i18n import _


def register(commands) -> None:
    recipes = commands.add_parser("recipes", help=_("list the shipped recipes, or print one"))
    recipes.add_argument("name", nargs="?")
    recipes.set_defaults(handler=list_recipes)

    models = commands.add_parser("models", help=_("list the architectures in the registry"))
    models.set_defaults(handler=list_models)

    completion = commands.add_parser(
        "completion", help=_("print a shell completion script: eval \"$(provador completion bash)\""),
        description=_("Tab completion of commands and options. bash: add `eval \"$(provador completion bash)\"` to "
                      "~/.bashrc; zsh: `provador completion zsh > ~/.zfunc/_provador` (with ~/.zfunc in fpath)."),
    )  # fmt: skip
    completion.add_argument("shell", choices=("bash", "zsh"))
    completion.set_defaults(handler=print_completion)


def list_recipes(args) -> None:
    from provador.core.recipes import list_recipes, load_recipe

    if args.name:
        print(load_recipe(args.name).to_toml(), end="")
        return
    for name in list_recipes():
        recipe = load_recipe(name)
        print(f"{name:<12} {recipe.model.architecture:<6} {recipe.description}")


def list_models(args) -> None:
    from provador.core.models import describe_models

    for name, summary in describe_models():
        print(f"{name:<8} {summary}")


def print_completion(args) -> None:
    """The completion script, made by shtab from the parser itself (so it never falls behind)."""
    import shtab

    from provador.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
