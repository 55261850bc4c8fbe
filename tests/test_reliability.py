"""Nothing lost, nothing let in: resume, faults, damaged run and model files, hostile data.

The server's side (hostile requests, slow clients, SIGTERM) is in test_serve_limits.py.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from provador.base.errors import DataFormatError, DataNotFoundError, RecipeError, RunError
from provador.cli import main
from provador.core import datasets, idx
from provador.core.recipes import load_recipe, parse_override
from provador.records import runs
from provador.serve import create_app
from provador.work.training import train
from tests.conftest import write_tiny_dataset

TINY = ["--set", "data.dataset=idx", "--set", "data.validation=50", "--set", "training.learning_rate=0.05",
        "--set", "model.hidden=[32, 16]"]  # fmt: skip


def provador(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "provador", *argv], capture_output=True, text=True, **kwargs)


def only_run(runs_dir: Path) -> runs.Run:
    (path,) = [p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()]
    return runs.Run(path)


# --- resume -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_run_killed_at_a_random_epoch_resumes_to_the_same_numbers(tiny_dir, tmp_path):
    """SIGKILL (no handler runs), then `train --resume`: history and weights equal an uninterrupted run."""
    args = ["train", *TINY, "--set", "training.epochs=6", "--data-dir", str(tiny_dir), "--quiet"]
    whole = provador(*args, "--runs-dir", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    kill_after = random.Random().randint(1, 4)
    process = subprocess.Popen([sys.executable, "-m", "provador", *args, "--runs-dir", str(tmp_path / "killed")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    history = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        found = list((tmp_path / "killed").glob("*/history.csv"))
        # The epoch's row is written before its checkpoint: wait for both (a kill between them
        # leaves the previous epoch's checkpoint, or none after the first).
        if (
            found
            and len(found[0].read_text().splitlines()) > kill_after
            and (found[0].parent / runs.CHECKPOINT_FILE).is_file()
        ):
            history = found[0]
            break
        time.sleep(0.02)
    assert history is not None, "training did not reach the epoch to kill at"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed = only_run(tmp_path / "killed")
    assert killed.info["status"] == "running" and killed.status == "interrupted"  # its process is gone
    listed = provador("runs", "--runs-dir", str(tmp_path / "killed"), "--json")
    assert json.loads(listed.stdout)[0]["status"] == "interrupted"

    resumed = provador("train", "--resume", str(killed.path), "--data-dir", str(tiny_dir), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    reference = only_run(tmp_path / "whole")
    assert killed.status == "completed" and killed.info["resumed"] == 1
    assert (killed.path / "history.csv").read_text() == (reference.path / "history.csv").read_text()
    assert killed.metrics["test"]["accuracy"] == reference.metrics["test"]["accuracy"]
    for mine, theirs in zip(killed.load_model().get_weights(), reference.load_model().get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert not (killed.path / runs.CHECKPOINT_FILE).exists()  # removed once complete


def test_resume_refuses_what_it_cannot_continue(tiny_run, tiny_dir, tiny_recipe, tmp_path, capsys):
    run, data_dir = tiny_run
    with pytest.raises(RunError, match="already complete"):
        train(resume=run, data_dir=data_dir, quiet=True)
    with pytest.raises(RecipeError, match="keeps its own recipe"):
        train(resume=run, epochs=3, quiet=True)
    assert main(["train", "--resume", str(run.path), "--recipe", "cnn"]) == 1
    assert "keeps its own recipe" in capsys.readouterr().err
    kept = train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True, keep_checkpoints=True)
    assert (kept.path / runs.CHECKPOINT_FILE).is_file()


def test_ctrl_c_after_the_model_is_saved_leaves_no_finished_looking_files(tiny_dir, tiny_recipe, tmp_path, monkeypatch):
    from provador.work import training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "test_metrics", interrupted)  # after model.keras, before metrics.json
    with pytest.raises(KeyboardInterrupt):
        train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    run = only_run(tmp_path / "runs")
    assert run.status == "interrupted"
    assert not (run.path / "model.keras").exists() and not (run.path / "metrics.json").exists()
    monkeypatch.undo()
    resumed = train(resume=run, data_dir=tiny_dir, quiet=True)  # every epoch was done: only the finish runs
    assert resumed.status == "completed" and (run.path / "model.keras").is_file()
    assert len(run.history()["loss"]) == tiny_recipe.training.epochs


def test_ctrl_c_while_the_report_is_drawn_leaves_a_complete_run_that_report_finishes(
    tiny_dir, tiny_recipe, tmp_path, monkeypatch
):
    from provador import workflow
    from provador.cli import main
    from provador.show import report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "write_pictures", interrupted)
    with pytest.raises(KeyboardInterrupt):
        workflow.train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    run = only_run(tmp_path / "runs")
    assert run.status == "completed" and run.run_metrics.test.accuracy is not None
    assert (run.path / "model.keras").is_file() and not (run.path / "report.html").exists()
    monkeypatch.undo()
    assert main(["report", str(run.path), "--data-dir", str(tiny_dir)]) == 0
    assert (run.path / "report.html").is_file() and (run.path / "confusion.png").is_file()


def test_a_full_disk_fails_the_run_with_the_folder_named(tiny_dir, tiny_recipe, tmp_path, monkeypatch):
    from provador.work import training

    def disk_full(*args, **kwargs):  # after model.keras was written, as a full disk would stop it
        raise OSError(28, "No space left on device", str(tmp_path / "runs" / "x" / "metrics.json"))

    monkeypatch.setattr(training, "calibrate", disk_full)
    with pytest.raises(RunError, match="No space left on device") as caught:
        train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    run = only_run(tmp_path / "runs")
    assert str(run.path) in str(caught.value) and "--resume" in str(caught.value)
    assert run.status == "failed"
    assert not (run.path / "model.keras").exists() and not (run.path / "metrics.json").exists()
    assert not list(run.path.glob(".*partial*"))


def test_two_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    recipe = load_recipe("seed")
    made = {runs.new_run(tmp_path, recipe, ["a", "b"], {}).path for _ in range(3)}
    assert len(made) == 3


# --- damaged run files ------------------------------------------------------------------------------

DAMAGE = {
    "empty": "",
    "garbage": "\x00\xff not json",
    "a list": "[1, 2, 3]",
    "wrong types": '{"status": ["completed"], "classes": "abc", "test": {"accuracy": "high"}, "epochs": "x"}',
    "deep": "[" * 100_000 + "]" * 100_000,
}


@pytest.fixture
def damaged_copy(tiny_run, tmp_path):
    run, data_dir = tiny_run

    def make(file_name: str, content: str) -> Path:
        copy = tmp_path / "runs" / f"{run.name}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(run.path, copy)
        (copy / file_name).write_text(content, encoding="utf-8", errors="surrogateescape")
        return copy

    return make, data_dir


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("file_name", ["run.json", "metrics.json", "history.csv", "recipe.toml"])
def test_every_command_names_a_damaged_run_file(damaged_copy, capsys, monkeypatch, tmp_path, file_name, damage):
    monkeypatch.chdir(tmp_path)  # `runs --compare` draws compare.png here
    make, data_dir = damaged_copy
    if file_name in ("history.csv", "recipe.toml") and damage in ("deep", "a list"):
        pytest.skip("the same as garbage for a CSV or TOML file")
    content = DAMAGE[damage] if file_name != "history.csv" else "epoch,loss\n1,abc\n"
    path = make(file_name, content)
    listed = main(["runs", "--runs-dir", str(path.parent), "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert listed == 0 and rows[0]["status"] == f"broken ({file_name} damaged)"
    if damage not in ("garbage", "wrong types"):
        return  # every command reads the file the same way: two kinds of damage are enough for them
    commands = [["report", str(path), "--data-dir", str(data_dir)],
                ["evaluate", str(path), "--data-dir", str(data_dir)],
                ["predict", str(path), "--data-dir", str(data_dir), "--test-index", "0"],
                ["runs", "--compare", str(path), str(path)]]  # fmt: skip
    for argv in commands:
        code = main(argv)
        err = capsys.readouterr().err
        if file_name == "history.csv":  # only `runs` reads the history: the others must just not crash
            assert code in (0, 1), (argv, err)
            continue
        assert code == 1, (argv, err)
        says_damaged = "damaged" in err or (
            file_name == "recipe.toml" and ("not valid TOML" in err or "Invalid" in err)
        )
        assert file_name in err and says_damaged, (argv, err)


@pytest.mark.slow
def test_serve_refuses_a_run_whose_model_cannot_load_before_listening(damaged_copy):
    make, _ = damaged_copy
    path = make("model.keras", "not a zip")
    result = provador("serve", str(path), "--port", "8765", timeout=120)
    assert result.returncode == 1
    assert "not a Keras model file" in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr and "startup failed" not in result.stderr


# --- model files ------------------------------------------------------------------------------------


def _rewrite_model(path: Path, entries: dict[str, bytes | None]) -> None:
    """Replace entries of a model.keras zip (None removes one)."""
    with zipfile.ZipFile(path) as archive:
        kept = {info.filename: archive.read(info) for info in archive.infolist()}
    kept.update(entries)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in kept.items():
            if data is not None:
                archive.writestr(name, data)


def test_a_model_with_code_in_it_is_refused_and_its_code_never_runs(damaged_copy, tmp_path, capsys):
    from provador.base._keras import keras

    make, data_dir = damaged_copy
    path = make("notes.txt", "")  # a fresh copy of the trained run
    marker = tmp_path / "marker"
    model = keras.Sequential([
        keras.Input((28, 28)),
        keras.layers.Lambda(lambda x, m=str(marker): (open(m, "w").close(), x)[1]),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    marker.unlink(missing_ok=True)  # building the model above ran the lambda once, here in the test
    model.save(path / "model.keras")
    for argv in (["evaluate", str(path), "--data-dir", str(data_dir)],
                 ["predict", str(path), "--test-index", "0", "--data-dir", str(data_dir)],
                 ["report", str(path), "--data-dir", str(data_dir)], ["inspect", str(path)]):  # fmt: skip
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Lambda" in err and "never runs" in err, err
    with pytest.raises(RunError, match="never runs"):
        create_app(path, data_dir=data_dir)  # `provador serve` loads it the same way, before listening
    assert not marker.exists()


def test_a_script_in_metrics_json_is_escaped_in_the_report(damaged_copy):
    make, data_dir = damaged_copy
    path = make("notes.txt", "")
    metrics = json.loads((path / "metrics.json").read_text())
    metrics["recipe"] = metrics["backend"] = "<script>alert(1)</script>"
    (path / "metrics.json").write_text(json.dumps(metrics))
    assert main(["report", str(path), "--data-dir", str(data_dir)]) == 0
    page = (path / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"config.json": None}, "config.json missing"),
        ({"config.json": b"{}" + b" " * (20 * 2**20)}, "config.json would unpack to more"),
        ({"config.json": b"[not json"}, "Cannot load"),
    ],
    ids=["no-config", "config-bomb", "garbage-config"],
)
def test_a_damaged_model_archive_is_named(damaged_copy, entries, message):
    make, _ = damaged_copy
    path = make("notes.txt", "")
    _rewrite_model(path / "model.keras", entries)
    with pytest.raises(RunError, match=message) as caught:
        runs.Run(path).load_model()
    assert "model.keras" in str(caught.value)


def test_a_model_from_elsewhere_gets_a_clear_error(damaged_copy):
    from provador.base._keras import keras

    make, _ = damaged_copy
    path = make("notes.txt", "")
    other = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(3)])
    other.save(path / "model.keras")
    with pytest.raises(RunError, match="answers with 3 values, but run.json lists 10 classes"):
        runs.Run(path).load_model()


# --- recipes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "override, message",
    [
        ("name=../outside", "plain name"),
        ("name=/tmp/elsewhere", "plain name"),
        ("seed=4294967296", "less than or equal to 4294967295"),
        ("training.learning_rate=inf", "finite number"),
        ("training.weight_decay=nan", "finite number"),
    ],
)
def test_recipe_values_that_would_escape_or_crash_are_refused(override, message, tmp_path, capsys):
    code = main(["train", "--set", override, "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1 and message in err
    assert not (tmp_path / "runs").exists() and not Path("/tmp/elsewhere").exists()


def test_deeply_nested_toml_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="too deeply"):
        parse_override("model.hidden=" + "[" * 5000 + "]" * 5000)
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000)
    with pytest.raises(RecipeError, match="deep.toml nests"):
        load_recipe(deep)


def test_divergence_names_weight_decay_when_it_is_set(tiny_dir, tiny_recipe, tmp_path):
    from provador.base.errors import TrainingDiverged

    recipe = tiny_recipe.with_overrides({"training.learning_rate": 1e30, "training.weight_decay": 1e30})
    with pytest.raises(TrainingDiverged) as caught:
        train(recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    assert "training.learning_rate=1e+29" in str(caught.value) and "training.weight_decay=1e+29" in str(caught.value)


# --- data -------------------------------------------------------------------------------------------


def test_a_data_dir_that_does_not_hold_the_data_stops(tmp_path, capsys):
    for folder, says in ((tmp_path / "nonexistent", "does not exist"), (tmp_path, "lacks train-images-idx3-ubyte")):
        code = main(["data", "info", "--data-dir", str(folder)])
        err = capsys.readouterr().err
        assert code == 1 and str(folder) in err and says in err  # not Debian's copy instead


def test_a_gzip_bomb_is_refused_after_reading_what_its_header_declares(tmp_path):
    header = idx.encode(np.zeros(10, np.uint8))
    bomb = tmp_path / "train-labels-idx1-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(header)
        for _ in range(64):
            f.write(bytes(2**24))  # 1 GiB of zeros in all, a megabyte on disk
    assert bomb.stat().st_size < 2 * 2**20
    with pytest.raises(DataFormatError, match="inflates to more than its IDX header declares"):
        idx.read(bomb)


def test_absurd_idx_headers_are_refused_without_allocating():
    header = bytes([0, 0, 8, 3]) + (2**32 - 1).to_bytes(4, "big") * 3
    with pytest.raises(DataFormatError, match="far larger than any IDX dataset"):
        idx.parse(header)
    assert idx.declared_size(header) == 16 + (2**32 - 1) ** 3


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 1, 2.5] * 100, np.float32), "float32 numbers"),
        (np.array([0, 1, -1] * 100, np.int16), "from -1 to 1"),
        (np.array([0, 1, 100_000_000] * 100, np.int32), "from 0 to 100000000"),
        (np.arange(300, dtype=np.int16) % 256, "from 0 to 255"),
    ],
    ids=["float", "negative", "huge", "256-classes"],
)
def test_labels_must_be_small_class_numbers(tmp_path, labels, message, capsys):
    folder = write_tiny_dataset(tmp_path / "data", n_train=300, n_test=300)
    idx.write(folder / "train-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DataFormatError, match=message):
        datasets.load_dataset("idx", folder, validation=50)
    assert main(["train", "--set", "data.dataset=idx", "--data-dir", str(folder), "--runs-dir", str(tmp_path)]) == 1
    assert "train-labels-idx1-ubyte.gz" in capsys.readouterr().err


@pytest.mark.parametrize("value, offline", [("on", True), ("1", True), ("yes", True), ("off", False), ("0", False)])
def test_provador_offline_takes_the_usual_spellings(monkeypatch, value, offline):
    monkeypatch.setenv("PROVADOR_OFFLINE", value)
    assert datasets.downloads_allowed() is not offline


def test_a_plain_http_mirror_elsewhere_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("PROVADOR_MIRROR", "http://example.org/fashion/")
    with pytest.raises(DataNotFoundError, match="not HTTPS"):
        datasets.locate("fashion-mnist", allow_download=True, progress=False)


class _Endless:
    """A response that never ends (or trickles): what a broken or hostile mirror sends."""

    headers: dict = {}

    def __init__(self, chunk: bytes, pause: float = 0.0):
        self.chunk, self.pause = chunk, pause

    def read(self, size):
        time.sleep(self.pause)
        return self.chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_download_stops_at_the_files_size_and_at_a_stalled_mirror(tmp_path, monkeypatch):
    with pytest.raises(OSError, match="sent more than"):
        datasets.download(tmp_path / "a", "https://mirror.test/", progress=False,
                          opener=lambda url, timeout: _Endless(bytes(1 << 16)))  # fmt: skip
    assert not list((tmp_path / "a").iterdir())  # nothing half-written kept
    monkeypatch.setattr(datasets, "DOWNLOAD_GRACE_SECONDS", 0.05)
    monkeypatch.setattr(datasets, "DOWNLOAD_MIN_RATE", 10**12)
    with pytest.raises(OSError, match="too slow"):
        datasets.download(tmp_path / "b", "https://mirror.test/", progress=False,
                          opener=lambda url, timeout: _Endless(b"x", pause=0.02))  # fmt: skip


def test_the_hash_mismatch_hint_names_options_that_exist(tmp_path, real_data):
    copy = tmp_path / "copy"
    shutil.copytree(real_data, copy)
    labels = idx.read(copy / "t10k-labels-idx1-ubyte.gz")
    labels[0] = (labels[0] + 1) % 10
    idx.write(copy / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(datasets.DataHashError, match="--set data.dataset=idx --data-dir DIR"):
        datasets.locate("fashion-mnist", copy)


def test_a_confusion_matrix_of_a_hundred_classes_stays_a_sane_picture(tmp_path):
    from PIL import Image

    from provador.show import plots

    matrix = np.random.default_rng(0).integers(0, 50, (datasets.MAX_CLASSES, datasets.MAX_CLASSES))
    path = plots.confusion(matrix, [f"class {i}" for i in range(datasets.MAX_CLASSES)], tmp_path / "c.png")
    with Image.open(path) as picture:
        assert max(picture.size) <= plots.MAX_INCHES * 100  # 24 inches at 100 dpi (it was 102 × 92 inches)


def test_an_older_run_without_newer_fields_still_loads(damaged_copy):
    """run.json without pid/host, metrics.json without calibration or per-class tables: still a run."""
    make, data_dir = damaged_copy
    path = make("notes.txt", "")
    info = json.loads((path / "run.json").read_text())
    for key in ("pid", "host", "started_unix", "ended_unix"):
        info.pop(key, None)
    (path / "run.json").write_text(json.dumps(info))
    metrics = json.loads((path / "metrics.json").read_text())
    for key in ("calibration", "seconds_to_val_accuracy", "versions"):
        metrics.pop(key, None)
    metrics["test"] = {"accuracy": metrics["test"]["accuracy"], "loss": metrics["test"]["loss"]}
    (path / "metrics.json").write_text(json.dumps(metrics))
    run = runs.Run(path)
    assert run.status == "completed" and run.run_info.pid is None
    assert run.run_metrics.calibration is None and run.run_metrics.versions == {}
    assert run.run_metrics.test.per_class is None and run.run_metrics.test.accuracy == metrics["test"]["accuracy"]
    from provador.work.inference import Predictor

    assert Predictor(run).answer.temperature == 1.0
    assert runs.summarize(path)["test_accuracy"] == metrics["test"]["accuracy"]


def test_latest_points_at_a_complete_run_only(tiny_dir, tiny_recipe, tmp_path, monkeypatch):
    from provador.work import training

    done = train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    monkeypatch.setattr(training, "calibrate", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space")))
    with pytest.raises(RunError):
        train(tiny_recipe, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    assert (tmp_path / "runs" / "latest").resolve() == done.path  # not the failed one
