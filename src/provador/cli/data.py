"""`provador data info` and `provador inspect`: the dataset, and a model's layers and weights."""

from __future__ import annotations

import json

from provador.base.choices import STRATEGIES, VALIDATION
from provador.base.errors import ProvadorError
from provador.base.i18n import _, class_name
from provador.cli.parser import add_data_dir, add_json, add_photos, add_set, count_or_fraction, labels, overrides


def register(commands) -> None:
    data = commands.add_parser("data", help=_("about the dataset")).add_subparsers(required=True, metavar="ACTION")
    info = data.add_parser("info", help=_("where the data came from, shapes, classes, hash check"))
    add_data_dir(info)
    info.add_argument(
        "--validation", default=str(VALIDATION),
        help=_("validation images: a count or a fraction (default {default})").format(default=VALIDATION),
    )  # fmt: skip
    info.add_argument("--split", default=STRATEGIES[0], choices=STRATEGIES)
    add_json(info)
    add_photos(info)
    info.set_defaults(handler=data_info)

    check = data.add_parser(
        "check", help=_("duplicates within and across the training and test files; with --run, labels a model doubts")
    )
    add_data_dir(check)
    check.add_argument(
        "--dataset", default="fashion-mnist", help=_("fashion-mnist, mnist or idx (default fashion-mnist)")
    )
    check.add_argument(
        "--run", help=_("a trained run: the labels it disagrees with most, and the test accuracy without duplicates")
    )
    check.add_argument(
        "--near", type=float, default=0.01,
        help=_("near duplicates: mean pixel difference at most this share of 0-255 (default 0.01: 2.55 levels)"),
    )  # fmt: skip
    check.add_argument(
        "--doubt", type=float, default=0.02,
        help=_("with --run: list images whose label the model gives less than this probability (default 0.02)"),
    )  # fmt: skip
    check.add_argument("--output", default="data-check", help=_("where its pictures go (default: data-check)"))
    add_json(check)
    check.set_defaults(handler=data_check)

    inspect = commands.add_parser("inspect", help=_("model summary, layers and weights"))
    inspect.add_argument("run", nargs="?", help=_("a run directory (or use --model)"))
    inspect.add_argument("--model", help=_("an architecture from the registry, untrained (e.g. mlp)"))
    add_set(inspect, _("model parameter, e.g. hidden=[512,256]"))
    inspect.add_argument("--layer", help=_("one layer, by index (1) or name (dense)"))
    inspect.add_argument("--weights", action="store_true", help=_("show weights: shapes, statistics and values"))
    inspect.set_defaults(handler=inspect_model)


def data_check(args) -> None:
    from provador.show.data_check import format_check, write_check

    if not 0 < args.near < 1:
        raise ProvadorError(
            _("Expected --near to be a share of the pixel range between 0 and 1 (0.01 is 2.55 grey levels). "
              "Received: {value}").format(value=args.near)
        )  # fmt: skip
    if not 0 < args.doubt < 1:
        raise ProvadorError(_("Expected --doubt to be a probability between 0 and 1. Received: {value}").format(
            value=args.doubt))  # fmt: skip
    result = write_check(args.dataset, args.data_dir, args.run, args.near, args.output, args.doubt)
    print(json.dumps(result, indent=2) if args.json else format_check(result))


def data_info(args) -> None:
    from provador.core.datasets import load_dataset
    from provador.show.text import table

    if args.photos:  # the photos alone, sorted into Fashion-MNIST's classes: no need to load the dataset
        from provador.core.datasets import FASHION_MNIST_CLASSES
        from provador.core.photo_folders import read_photo_folders
        from provador.work.adaptation import describe

        photo_set = read_photo_folders(args.photos, FASHION_MNIST_CLASSES, progress=not args.json, labels=labels(args))
        print(json.dumps(photo_set.summary(), indent=2) if args.json else describe(photo_set))
        return
    data = load_dataset(data_dir=args.data_dir, validation=count_or_fraction(args.validation), split=args.split, seed=0)
    summary = data.summary()
    summary["train_full"] = {"images_shape": [len(data.y_train) + len(data.y_valid), *data.x_train.shape[1:]]}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    src = summary["source"]
    found_via = src["found_via"]  # a variable: older Babel would extract a subscript's key as a message
    print(_("Dataset: {name}, from {directory} ({how})").format(
        name=src["dataset"], directory=src["directory"], how=_(found_via)
    ))  # fmt: skip
    if src["hashes_match_published"]:
        print(_("Content hashes: all four files match the published SHA-256"))
    print(_("Full training set: {shape} {dtype}").format(
        shape=tuple(summary["train_full"]["images_shape"]), dtype=summary["train"]["images_dtype"]
    ))  # fmt: skip
    print(_("Validation: {count} images, split `{split}`").format(count=args.validation, split=args.split) + "\n")
    splits = ("train", "valid", "test")
    print(table(
        [(_("split"), "<6"), (_("images"), "<19"), (_("dtype"), "<7"), (_("labels"), " ")],
        [[name, tuple(summary[name]["images_shape"]), summary[name]["images_dtype"], tuple(summary[name]["labels_shape"])]
         for name in splits],
    ))  # fmt: skip
    print()
    print(table(
        [(_("class"), "<13"), *((name, ">6") for name in splits)],
        [[class_name(cls), *(summary[s]["per_class"][cls] for s in splits)] for cls in summary["classes"]],
    ))  # fmt: skip


def inspect_model(args) -> None:
    import numpy as np

    if bool(args.run) == bool(args.model):
        raise ProvadorError(_("Expected either a run directory or --model NAME (e.g. `provador inspect --model mlp`)."))
    if args.run:
        from provador.records.runs import Run

        model = Run(args.run).load_model()
    else:
        from provador.base._keras import keras
        from provador.core.models import build_model
        from provador.core.recipes import Recipe

        keras.utils.set_random_seed(Recipe().seed)  # the weights a recipe's training starts from, every time
        model = build_model(args.model, **overrides(args.set))
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
