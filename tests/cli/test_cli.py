"""The command line: exit codes, messages, and what each command prints."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from provador.cli import main
from provador.core import datasets


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_data_not_found_exits_1_with_places_and_fixes(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DIR", tmp_path / "none")
    code, _, err = run_cli(capsys, "data", "info")  # nothing in the cache, no Debian package, offline
    assert code == 1
    assert err.startswith("Error: Could not find the fashion-mnist IDX files")
    assert "apt-get install dataset-fashion-mnist" in err and "--data-dir" in err


def test_data_info_on_the_real_data(capsys, real_data):
    code, out, _ = run_cli(capsys, "data", "info")
    assert code == 0
    assert "(60000, 28, 28) uint8" in out and "all four files match the published SHA-256" in out
    assert "train  (59000, 28, 28)" in out and "test   (10000, 28, 28)" in out
    code, out, _ = run_cli(capsys, "data", "info", "--json")
    info = json.loads(out)
    assert info["test"]["per_class"]["Ankle boot"] == 1000 and info["source"]["hashes_match_published"] is True


def test_corrupted_file_is_reported(capsys, tiny_dir):
    labels = tiny_dir / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])
    code, _, err = run_cli(capsys, "train", "--set", "data.dataset=idx", "--data-dir", str(tiny_dir))
    assert code == 1 and "train-labels-idx1-ubyte.gz" in err


def test_inspect_model_prints_the_notebooks_summary(capsys):
    code, out, _ = run_cli(capsys, "inspect", "--model", "mlp")
    assert code == 0
    assert "266,610" in out and "235,500" in out and "30,100" in out and "1,010" in out
    assert "[2] dense" in out and "[4] dense_2" in out
    code, out, _ = run_cli(capsys, "inspect", "--model", "mlp", "--layer", "dense", "--weights")
    assert "dense/kernel: shape (784, 300)" in out
    assert "dense/bias: shape (300,), mean 0.00000, std 0.00000" in out
    code, out, _ = run_cli(capsys, "inspect", "--model", "mlp", "--layer", "3")
    assert out.startswith("Layer 3: dense_1 (Dense)")


def test_inspect_errors(capsys, tmp_path):
    assert run_cli(capsys, "inspect", "--model", "mlp", "--layer", "9")[2].startswith("Error: Layer index 9")
    assert "No layer named 'densa'" in run_cli(capsys, "inspect", "--model", "mlp", "--layer", "densa")[2]
    assert "either a run directory or --model" in run_cli(capsys, "inspect")[2]
    assert "does not exist" in run_cli(capsys, "inspect", str(tmp_path / "nope"))[2]


def test_inspect_a_trained_run_shows_trained_biases(capsys, tiny_run):
    run, _ = tiny_run
    code, out, _ = run_cli(capsys, "inspect", str(run.path), "--layer", "dense", "--weights")
    assert code == 0 and "dense/bias: shape (32,)" in out and "std 0.00000" not in out.split("dense/bias")[1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epochs", "0"], "`training.epochs`: input should be greater than 0"),
        (["--set", "training.optimizer=adagrad"], "`training.optimizer`"),
        (["--set", "training.epoch=3"], "Did you mean `training.epochs`?"),
        (["--recipe", "missing.toml"], "Recipe file missing.toml does not exist"),
    ],
)
def test_bad_recipes_exit_1_naming_the_key(capsys, argv, message):
    code, _, err = run_cli(capsys, "train", *argv)
    assert code == 1 and message in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--epochs", "many"])
    assert info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, hint",
    [(["trian"], "Did you mean `train`?"), (["data", "inof"], "Did you mean `info`?"),
     (["train", "--epohcs", "3"], "Did you mean `--epochs`?"), (["predict", "r", "--shwo-input", "d"], "`--show-input`")],
)  # fmt: skip
def test_typos_get_the_closest_command_or_option(capsys, argv, hint):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and hint in err and "Try 'provador" in err


def test_a_closed_output_pipe_stops_quietly():
    """`provador recipes seed | head -1`: the reader goes away; no traceback, exit 141 like Unix tools."""
    process = subprocess.Popen(
        [sys.executable, "-m", "provador", "recipes", "seed"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    process.stdout.close()  # before provador writes anything
    err = process.stderr.read().decode()
    assert process.wait() == 141 and err == ""


def test_train_evaluate_predict_from_the_command_line(capsys, tiny_dir, tmp_path):
    code, out, _ = run_cli(
        capsys, "train", "--set", "data.dataset=idx", "--set", "data.validation=50", "--set", "model.hidden=[32]",
        "--set", "training.learning_rate=0.05", "--epochs", "2", "--data-dir", str(tiny_dir),
        "--runs-dir", str(tmp_path / "runs"), "--quiet",
    )  # fmt: skip
    assert code == 0
    run_dir = out.strip()
    assert run_dir.startswith(str(tmp_path / "runs"))

    code, out, _ = run_cli(capsys, "evaluate", run_dir, "--data-dir", str(tiny_dir), "--json")
    result = json.loads(out)
    recorded = json.loads((Path(run_dir) / "metrics.json").read_text())["test"]
    assert code == 0 and result["images"] == 100
    assert result["accuracy"] == recorded["accuracy"] and result["loss"] == pytest.approx(recorded["loss"], abs=1e-6)
    code, out, _ = run_cli(capsys, "evaluate", run_dir, "--data-dir", str(tiny_dir))
    assert f"Test accuracy: {result['accuracy']:.4f}" in out

    code, out, _ = run_cli(capsys, "predict", run_dir, "--data-dir", str(tiny_dir), "--test-index", "0:3", "--json")
    answers = json.loads(out)
    assert code == 0 and [a["source"] for a in answers] == ["test[0]", "test[1]", "test[2]"]
    assert all(abs(sum(a["probabilities"].values()) - 1) < 1e-4 and len(a["top"]) == 3 for a in answers)

    code, _, err = run_cli(capsys, "predict", run_dir, "--data-dir", str(tiny_dir), "--test-index", "100")
    assert code == 1 and "out of range: the test set has 100 images" in err

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (640, 480), "white").save(photo)
    code, out, _ = run_cli(capsys, "predict", run_dir, str(photo), "--show-input", str(tmp_path / "seen"))
    assert code == 0 and out.startswith(f"{photo}: ") and "top-3:" in out
    assert (tmp_path / "seen" / "photo.input.png").is_file()

    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    code, _, err = run_cli(capsys, "predict", run_dir, str(text))
    assert code == 1 and "notes.jpg is not an image" in err


def test_runs_that_are_not_runs(capsys, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", str(tmp_path / "missing"))
    assert code == 1 and "does not exist" in err
    code, _, err = run_cli(capsys, "evaluate", str(tmp_path))
    assert code == 1 and "is not a provador run" in err


def test_run_without_model_is_explained(capsys, tiny_run, tmp_path):
    import shutil

    run, _ = tiny_run
    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    (copy / "model.keras").unlink()
    code, _, err = run_cli(capsys, "predict", str(copy))
    assert code == 1 and "has no model.keras" in err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "provador", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("provador ")


def test_predict_a_folder_reports_unreadable_files_and_exits_1(capsys, tiny_run, tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    run, _ = tiny_run
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine" / "tops").mkdir(parents=True)
    for name in ("one", "two"):
        Image.fromarray(np.random.default_rng(3).integers(0, 255, (28, 28), np.uint8)).save(f"mine/tops/{name}.png")
    Path("mine/bad.png").write_bytes(b"garbage")
    assert main(["predict", str(run.path), "mine", "--json", "--show-input", "seen"]) == 1
    out, err = capsys.readouterr()
    answers = json.loads(out)
    assert [a["source"] for a in answers] == ["mine/tops/one.png", "mine/tops/two.png"]
    assert "Skipped mine/bad.png: mine/bad.png is not an image" in err
    assert "1 of 3 files could not be read" in err
    assert sorted(p.as_posix() for p in Path("seen").rglob("*.png")) == [
        "seen/tops/one.input.png", "seen/tops/two.input.png"
    ]  # fmt: skip


def test_the_package_names_its_public_api_and_version():
    """Every command has its Python twin, visible to dir() and editors; the version is the package's."""
    from importlib.metadata import version

    import provador

    assert provador.__version__ == version("provador")
    assert set(provador.__all__) == {"ProvadorError", "__version__", *provador._LAZY}
    for name in ("load_dataset", "train", "evaluate", "Predictor", "build_report", "list_runs", "compare_runs"):
        assert name in dir(provador) and callable(getattr(provador, name))


def test_shell_completion_completes_commands_and_options_from_the_parser(capsys, tmp_path):
    assert main(["completion", "bash"]) == 0
    script = tmp_path / "provador.bash"
    script.write_text(capsys.readouterr().out)

    def complete(*words: str) -> list[str]:
        line = f'source {script}; COMP_WORDS=(provador {" ".join(words)}); COMP_CWORD={len(words)}; ' \
               '_shtab_provador; echo "${COMPREPLY[@]}"'  # fmt: skip
        return subprocess.run(["bash", "-c", line], capture_output=True, text=True, check=True).stdout.split()

    assert complete("tr") == ["train", "track"] and complete("trai") == ["train"]
    assert "--epochs" in complete("train", "--ep")
    assert main(["completion", "zsh"]) == 0 and capsys.readouterr().out.startswith("#compdef provador")
