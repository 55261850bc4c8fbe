"""`provador serve` and `provador export`: a trained run as a web page and API, or as a model file."""

from __future__ import annotations

import argparse
import json

from provador.base.choices import ENGINES, HOST, LIMIT_CONCURRENCY, PORT
from provador.base.i18n import _, number, percent
from provador.cli.parser import add_data_dir, add_json, port


def register(commands) -> None:
    serve = commands.add_parser("serve", help=_("HTTP API and web page for a trained run"))
    serve.add_argument("run")
    serve.add_argument(
        "--host", default=HOST, help=_("address to bind (default {default}: this machine only)").format(default=HOST)
    )
    serve.add_argument(
        "--port", type=port, default=PORT, help=_("TCP port, 1-65535 (default {default})").format(default=PORT)
    )
    serve.add_argument("--access-log", action="store_true", help=_("log every request (refusals are always logged)"))
    serve.add_argument(
        "--log-format", choices=("json", "text"), default="json",
        help=_("the log on standard error: JSON lines (default) or text for a person"),
    )  # fmt: skip
    serve.add_argument(
        "--cors", action="append", default=[], metavar="ORIGIN",
        help=_("let pages from ORIGIN (e.g. https://example.org) call the API; may be repeated"),
    )  # fmt: skip
    serve.add_argument(
        "--limit-concurrency", type=int, default=LIMIT_CONCURRENCY,
        help=_("connections and requests at once before new ones get 503 (default {default})").format(
            default=LIMIT_CONCURRENCY),
    )  # fmt: skip
    serve.add_argument(
        "--engine", choices=ENGINES, default=ENGINES[0],
        help=_("what computes the answers: the Keras model (default) or onnxruntime on RUN/export/model.onnx"),
    )  # fmt: skip
    serve.add_argument(
        "--collect", metavar="DIR",
        help=_("let the page keep labelled photos (\"this is a …\") in DIR/<class>/, for `provador adapt`"),
    )  # fmt: skip
    add_data_dir(serve)
    serve.set_defaults(handler=serve_run)

    from provador.work.export_formats import FORMATS  # the registry alone: no NumPy, no Keras

    formats = "\n".join(f"  {name:<12} {_(kind.purpose)}\n  {'':<12} {kind.loader}" for name, kind in FORMATS.items())
    export = commands.add_parser(
        "export", help=_("write a run's model as ONNX, TensorFlow SavedModel or LiteRT, verified"),
        description=_("Export a run's model (raw uint8 pixels [batch, 28, 28] in, probabilities out, calibration and "
                      "mirror averaging inside), check it against the model on 1,000 test images, and write it only "
                      "if it answers the same.") + "\n\n" + _("Formats:") + "\n" + formats,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    export.add_argument("run")
    export.add_argument(
        "--format", choices=(*FORMATS, "all"), default="onnx",
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
    add_json(export)
    add_data_dir(export)
    export.set_defaults(handler=export_run)


def serve_run(args) -> None:
    from provador.records.runs import Run
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
            print(_("Collecting labelled photos into {folder}: then `provador adapt {run} --photos {folder}`.").format(
                folder=args.collect, run=run.path), flush=True)  # fmt: skip

    serve(run, host=args.host, port=args.port, data_dir=args.data_dir, access_log=args.access_log, engine=args.engine,
          on_listening=banner, collect=args.collect, cors=args.cors, log_format=args.log_format,
          limit_concurrency=args.limit_concurrency)  # fmt: skip


def export_run(args) -> None:
    from provador.work.export import export, export_all

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
