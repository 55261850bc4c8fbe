"""The frictions a newcomer met in the first hour, each pinned: the command line, the server's
start, the language of upload errors, inspect, resume hints, recipe mistakes, where files go,
a search's hopeless trials and its tables."""

from __future__ import annotations

import shutil
import socket

import numpy as np
import optuna
import pytest
from PIL import Image

from provador.cli import main
from provador.records import runs, studies
from provador.show import plots
from tests.conftest import ctrl_c_after_epoch_two


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(map(str, argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_takes_images_after_the_test_index_and_counts_only_files(capsys, tiny_run, tmp_path):
    run, data_dir = tiny_run
    photo = tmp_path / "shirt.png"
    Image.fromarray(np.full((40, 30), 200, np.uint8)).save(photo)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    code, out, err = run_cli(capsys, "predict", run.path, "--test-index", "0:3", photo, "--data-dir", data_dir)
    assert code == 0, err
    assert [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")] == [
        "test[0]", "test[1]", "test[2]", str(photo)]  # fmt: skip
    code, out, err = run_cli(capsys, "predict", run.path, "--test-index", "0:3", photo, broken, "--data-dir", data_dir)
    assert code == 1 and "1 of 2 files could not be read" in err


def test_an_abbreviated_option_is_a_mistake_not_another_option(capsys, tiny_dir, tmp_path):
    with pytest.raises(SystemExit) as exited:
        main(["train", "--epoch", "2", "--runs-dir", str(tmp_path / "runs")])
    code = exited.value.code
    err = capsys.readouterr().err
    assert code == 2 and "unrecognized arguments: --epoch 2. Did you mean `--epochs`?" in err
    assert not (tmp_path / "runs").exists()


def test_serve_says_why_it_cannot_start_before_any_banner(capsys, tiny_run):
    run, data_dir = tiny_run
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run_cli(capsys, "serve", run.path, "--port", port, "--data-dir", data_dir)
    assert code == 1 and out == ""
    assert f"Cannot listen on 127.0.0.1:{port}: port {port} is already in use" in err and f"--port {port + 1}" in err
    code, out, err = run_cli(capsys, "serve", run.path, "--engine", "onnx", "--data-dir", data_dir)
    assert code == 1 and out == "" and "export it first" in err


def test_upload_errors_speak_the_requests_language(tiny_run):
    from fastapi.testclient import TestClient

    from provador.serve import create_app

    run, data_dir = tiny_run
    with TestClient(create_app(run, data_dir=data_dir)) as client:
        for body in (b"hello, not an image", b"\xff\xd8\xff\xe0" + bytes(300_000)):  # decoded on the worker pool
            reply = client.post("/v1/predict?lang=pt", files={"file": ("x.jpg", body, "image/jpeg")})
            assert reply.status_code in (415, 422)
            assert "x.jpg" in reply.json()["error"] and ("não é uma imagem" in reply.json()["error"]
                                                         or "danificada" in reply.json()["error"])  # fmt: skip


def test_inspect_shows_weights_only_when_asked_and_the_same_ones_every_time(capsys):
    code, out, _ = run_cli(capsys, "inspect", "--model", "mlp", "--layer", "2")
    assert code == 0 and "Add --weights to see its weights." in out and "mean" not in out
    first = run_cli(capsys, "inspect", "--model", "mlp", "--layer", "2", "--weights")[1]
    second = run_cli(capsys, "inspect", "--model", "mlp", "--layer", "2", "--weights")[1]
    assert "dense/kernel: shape (784, 300)" in first and first == second


@pytest.mark.slow
def test_ctrl_c_and_evaluate_point_to_resume(capsys, tiny_dir, tmp_path, monkeypatch):
    ctrl_c_after_epoch_two(monkeypatch)
    argv = ["train", "--set", "data.dataset=idx", "--set", "data.validation=50", "--set", "model.hidden=[8]",
            "--epochs", "4", "--data-dir", tiny_dir, "--runs-dir", tmp_path / "runs", "--quiet"]  # fmt: skip
    code, _, err = run_cli(capsys, *argv)
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.name != "latest"]
    assert (
        code == 130
        and f"Interrupted. Continue it from its last whole epoch with `provador train --resume {folder}`" in err
    )
    monkeypatch.undo()
    code, _, err = run_cli(capsys, "evaluate", folder, "--data-dir", tiny_dir)
    assert code == 1 and f"provador train --resume {folder}" in err
    assert run_cli(capsys, "train", "--resume", folder, "--data-dir", tiny_dir, "--quiet")[0] == 0
    assert runs.Run(folder).status == "completed"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--recipe", "sed"], "Did you mean `seed`?"),
        (["--recipe", "my-recipe.toml"], "Recipe file my-recipe.toml does not exist"),
        (["--epochs", "-1"], "Invalid recipe (--epochs):"),
        (["--set", "model.hidden=300"], "A list is written in brackets: model.hidden=[300]"),
    ],
)
def test_recipe_mistakes_are_named_for_what_they_are(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, "train", *argv, "--runs-dir", tmp_path / "runs")
    assert code == 1 and message in err
    assert argv[0] == "--set" or "--set" not in err  # a mistake in --epochs is not blamed on --set


def test_compare_writes_its_plot_into_the_runs_folder(capsys, tiny_run, tmp_path, monkeypatch):
    run, _ = tiny_run
    monkeypatch.chdir(tmp_path)
    runs_dir = tmp_path / "runs"
    shutil.copytree(run.path, runs_dir / run.name)
    code, out, _ = run_cli(capsys, "runs", "--runs-dir", runs_dir, "--compare", runs_dir / run.name, run.path)
    assert code == 0 and (runs_dir / "compare.png").is_file() and not (tmp_path / "compare.png").exists()


def test_a_trial_stuck_at_chance_is_stopped_after_three_epochs():
    from provador.base._keras import keras
    from provador.work.tuning.trial import ReportToTrial

    study = optuna.create_study(direction="maximize")
    callback = ReportToTrial(study.ask(), epochs=20, deadline=None, trial_time=None)
    callback.set_model(keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)]))
    callback.on_epoch_end(0, {"val_accuracy": 0.1})
    callback.on_epoch_end(1, {"val_accuracy": 0.1})
    with pytest.raises(
        optuna.TrialPruned, match=r"stopped after epoch 3: validation accuracy stuck at chance \(0.10\)"
    ):
        callback.on_epoch_end(2, {"val_accuracy": 0.1})
    learning = ReportToTrial(study.ask(), epochs=20, deadline=None, trial_time=None)
    learning.set_model(callback.model)
    for epoch, value in enumerate([0.1, 0.1, 0.4, 0.6]):  # slow to start, then learning: goes on
        learning.on_epoch_end(epoch, {"val_accuracy": value})


def test_the_trials_table_rounds_numbers_and_keeps_run_names_whole(tmp_path):
    name = "trial-0007-20261201-120000-123456"
    (tmp_path / studies.TRIALS_FILE).write_text(
        "trial,state,val_accuracy,epochs,seconds,training.learning_rate,run,note\n"
        f"7,complete,0.8797,20,12.3456789,0.0012345678912345,{name},{'x' * 80}\n"
    )
    from provador.show.study_report import trials_text

    table = trials_text(tmp_path)
    assert "0.001235" in table and "12.35" in table and name in table and "x" * 39 + "…" in table
    assert max(map(len, table.splitlines())) < 160


def test_the_probability_bars_carry_whole_class_names():
    assert plots.bar_labels(["T-shirt/top", "Ankle boot", "Bag"]) == ["T-shirt", "Ankle boot", "Bag"]


def test_a_missing_extra_is_named_with_the_command_that_works_in_this_installation(capsys, tiny_run, monkeypatch):
    """From a clone (the editable install `make setup` makes), `pip install 'provador[export]'`
    fails: provador is not on the package index. The hint installs the extra from the clone."""
    import importlib.util
    from pathlib import Path

    from provador.base._install import pip_install

    checkout = Path(__file__).resolve().parent.parent
    assert pip_install("export").endswith("[export]'") and " -e " in pip_install("export")
    assert str(checkout) in pip_install("export") or "'.[export]'" in pip_install("export")
    run, _ = tiny_run
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real_find_spec(name, *a)
    )
    code, _, err = run_cli(capsys, "export", run.path, "--format", "onnx")
    assert code == 1 and "tf2onnx" in err and pip_install("export") in err and "pip install 'provador" not in err


def test_every_command_in_the_readme_and_the_docs_is_one_the_command_line_takes():
    """A newcomer copies the README's lines: each `provador …` line in a shell block must parse
    (a renamed option would otherwise stay in the docs, a usage error for whoever tries it)."""
    import re
    import shlex
    from pathlib import Path

    from provador.cli import build_parser

    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        for block in re.findall(r"```(?:bash)?\n(.*?)```", page.read_text(), re.S):
            for line in block.splitlines():
                line = line.split("  #")[0].strip().removeprefix("$ ")
                if not line.startswith("provador ") or "…" in line or "..." in line or "|" in line:
                    continue
                argv = [word.replace("*", "x") for word in shlex.split(line)[1:]]
                try:
                    args, extra = build_parser().parse_known_args(argv)
                except SystemExit:
                    pytest.fail(f"{page.name}: `{line}` is a usage error")
                assert not [word for word in extra if word.startswith("-")], f"{page.name}: `{line}`: unknown {extra}"
                checked += 1
    assert checked >= 20
