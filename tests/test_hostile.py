"""The hostile-input probe: for each surface that reads a file or a request, a table of damaged,
foreign or crafted inputs, each of which must end in a one-paragraph error that names what is
wrong, with nothing lost, nothing leaked and no traceback. A new surface adds its rows here.

Surfaces: export targets, study files and their storage, the journal, worker liveness, search
spaces and --workers, checkpoints, the calibration temperature, ONNX files served, cookies,
the catalogs, file permissions, photo folders and the collection folder."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from provador.base import _files, _system, i18n
from provador.base.errors import ProvadorError, RunError, StorageError, StudyError
from provador.cli import main
from provador.records import runs


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` and a hash of its content: what "nothing lost" compares."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


# --- export never destroys ----------------------------------------------------------------


def _export_targets(run: runs.Run, tmp_path: Path) -> dict[str, tuple[Path, bool]]:
    """name: (target, refused even with --force)."""
    folder = tmp_path / "three-files"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(name)
    other = tmp_path / "notes.txt"
    other.write_text("my notes")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link-to-model.keras"
    link.symlink_to(run.path / runs.MODEL_FILE)
    latest = run.path.parent / "latest"
    latest.symlink_to(run.path.name)
    return {
        "the run itself": (run.path, True),
        "the runs folder": (run.path.parent, True),
        "a folder of three files": (folder, True),
        "the run's model.keras": (run.path / runs.MODEL_FILE, True),
        "the run's metrics.json": (run.path / runs.METRICS_FILE, True),
        "a link to the run's model": (link, True),
        "runs/latest": (latest, True),
        "a named pipe": (fifo, True),
        "a file that is not an export": (other, False),
    }


needs_export = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tf2onnx", "onnxruntime", "ai_edge_litert")),
    reason="pip install 'provador[export]'",
)


@needs_export
def test_export_refuses_every_target_whose_loss_would_be_a_loss(run_copy, tmp_path, capsys):
    run, data_dir = run_copy
    targets = _export_targets(run, tmp_path)
    before = snapshot(tmp_path)
    for name, (target, always) in targets.items():
        for force in (False, True):
            if force and not always:
                continue
            argv = ["export", str(run.path), "--output", str(target), "--data-dir", str(data_dir)]
            code, text = run_cli(argv + (["--force"] if force else []), capsys)
            assert code == 1, (name, force, text)
            assert "Nothing was written" in text and str(target) in text, (name, text)
    assert snapshot(tmp_path) == before
    assert (tmp_path / "pipe").exists() and not (tmp_path / "pipe").is_file()  # still a pipe
    assert (run.path.parent / "latest").resolve() == run.path.resolve()  # still the link to the run


@needs_export
def test_export_force_replaces_a_plain_file_and_an_earlier_export_is_replaced(run_copy, tmp_path, monkeypatch):
    from provador.work import export as exporting

    run, data_dir = run_copy

    def exporter(run, made, check):  # the real child's work is tested in test_export.py
        for format, path in made.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            if format == "saved-model":
                path.mkdir()
                (path / "saved_model.pb").write_bytes(b"new")
                (path / exporting.SIGNATURE_FILE).write_text(json.dumps(exporting.signature(run)))
            else:
                path.write_bytes(b"new " + format.encode())
        return {format: {"max_abs_difference": 0.0, "class_agreement": 1.0, "batch_sizes": [1, 64]} for format in made}

    monkeypatch.setattr(exporting, "_run_exporter", exporter)
    notes = tmp_path / "notes.onnx"
    notes.write_text("my notes")
    with pytest.raises(exporting.ExportError, match="Pass --force"):
        exporting.export(run, "onnx", notes, data_dir=data_dir)
    exporting.export(run, "onnx", notes, data_dir=data_dir, force=True)
    assert notes.read_bytes() == b"new onnx"
    # An earlier SavedModel export (recognised by its signature.json) is replaced whole, and the
    # folder beside it keeps nothing of the old one.
    earlier = tmp_path / "exports" / "saved_model"
    (earlier / "variables").mkdir(parents=True)
    (earlier / "saved_model.pb").write_bytes(b"old")
    (earlier / exporting.SIGNATURE_FILE).write_text(json.dumps(exporting.signature(run)))
    assert exporting.is_provador_export("saved-model", earlier)
    exporting.export(run, "saved-model", earlier, data_dir=data_dir)
    assert (earlier / "saved_model.pb").read_bytes() == b"new"
    assert sorted(p.name for p in earlier.parent.iterdir()) == ["saved_model"]
    # The same folder with one file of the user's in it is no longer an export.
    (earlier / "mine.txt").write_text("mine")
    assert not exporting.is_provador_export("saved-model", earlier)
    with pytest.raises(exporting.ExportError, match="not an export"):
        exporting.export(run, "saved-model", earlier, data_dir=data_dir, force=True)
    assert (earlier / "mine.txt").read_text() == "mine"


# --- a study file never chooses where a password goes -----------------------------------


class Listener:
    """A TCP server on loopback that counts connections and keeps what they sent."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.server.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    self.received.append(conn.recv(4096))
                except OSError:
                    self.received.append(b"")

    def close(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        self.server.close()


def _study_folder(tmp_path: Path, name: str, storage: str) -> Path:
    folder = tmp_path / "studies" / name
    folder.mkdir(parents=True)
    (folder / "study.json").write_text(json.dumps({"study": name, "storage": storage, "recipe": "seed"}))
    return folder


def test_a_study_file_naming_a_server_gets_no_connection_and_no_password(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PGPASSWORD", "the-secret")
    listener = Listener()
    try:
        _study_folder(tmp_path, "lure", f"postgresql://alice@127.0.0.1:{listener.port}/provador")
        code, text = run_cli(["studies", "show", "lure", "--studies-dir", str(tmp_path / "studies")], capsys)
        assert code == 1 and "never to one a file names: pass --storage" in text, text
        # Given a URL of another server, the file must agree with it before anything is sent.
        other = "postgresql://alice:pw@127.0.0.1:1/provador"
        code, text = run_cli(["studies", "show", "lure", "--storage", other, "--studies-dir", str(tmp_path / "studies")],
                             capsys)  # fmt: skip
        assert code == 1 and "not in postgresql://alice:***@127.0.0.1:1/provador" in text, text
        assert "pw@" not in text
    finally:
        listener.close()
    assert listener.received == []


def test_a_study_name_is_never_a_path(tmp_path, capsys):
    studies_dir = tmp_path / "nest" / "studies"
    studies_dir.mkdir(parents=True)
    for name in ("../x", "/tmp/x", ".hidden", "a/b"):
        code, text = run_cli(["studies", "show", name, "--storage", "postgresql://u@127.0.0.1:1/db",
                              "--studies-dir", str(studies_dir)], capsys)  # fmt: skip
        assert code == 1 and "Expected a study name" in text, (name, text)
    assert [p.name for p in tmp_path.rglob("*")] == ["nest", "studies"]


def test_damaged_study_files_are_listed_as_broken_not_the_end_of_the_listing(tmp_path, capsys):
    studies_dir = tmp_path / "studies"
    good = _study_folder(tmp_path, "good", "embedded journal file")
    (good / "summary.json").write_text(
        json.dumps({"trials": {"complete": 2}, "best": {"trial": 1, "val_accuracy": 0.8}})
    )
    for name, file, content in (("bad-study", "study.json", "{not json"), ("bad-summary", "summary.json", "[1, 2]"),
                                ("deep", "study.json", "[" * 100_000)):  # fmt: skip
        folder = _study_folder(tmp_path, name, "embedded journal file")
        (folder / file).write_text(content)
    code, text = run_cli(["studies", "--studies-dir", str(studies_dir)], capsys)
    assert code == 0, text
    lines = {line.split()[0]: line for line in text.splitlines()[1:] if line.strip()}
    assert "0,8000" not in lines["good"] and "0.8000" in lines["good"]
    assert "broken (study.json damaged)" in lines["bad-study"] and "broken (study.json damaged)" in lines["deep"]
    assert "broken (summary.json damaged)" in lines["bad-summary"]
    code, text = run_cli(["studies", "show", "bad-study", "--studies-dir", str(studies_dir)], capsys)
    assert code == 1 and "study.json is damaged" in text


# --- the journal ------------------------------------------------------------------------


@pytest.fixture
def small_study(tiny_recipe, tiny_dir, tmp_path):
    """A one-trial search on the embedded journal, and how to search it again."""
    from provador.core.spaces import parse_space
    from provador.work.tuning import tune

    space = parse_space({"name": "tiny", "training": {"learning_rate": {"low": 0.01, "high": 0.1, "log": True}}},
                        "test", "tiny")  # fmt: skip
    recipe = tiny_recipe.with_overrides({"training.epochs": 1})

    def search(trials: int):
        return tune(recipe, space, trials=trials, study="s", studies_dir=tmp_path / "studies",
                    runs_dir=tmp_path / "runs", data_dir=tiny_dir, quiet=True)  # fmt: skip

    search(1)
    return tmp_path / "studies" / "s", search


def test_a_journal_cut_mid_record_is_mended_and_the_search_goes_on(small_study, capsys):
    folder, search = small_study
    journal = folder / "journal.log"
    whole = journal.read_bytes()
    fragment = b'{"op_code":5,"worker_id":"x","trial_id":0,"st'  # a write that never finished
    journal.write_bytes(whole + fragment)
    summary = search(2)
    assert sum(summary.trials.values()) == 2
    assert f"half-written record ({len(fragment)} bytes" in capsys.readouterr().err
    (kept,) = folder.glob("journal.log.cut-*")
    assert kept.read_bytes().startswith(b'{"op_code":5')
    assert journal.read_bytes().startswith(whole) and journal.read_bytes().endswith(b"\n")
    for line in journal.read_bytes().splitlines():
        json.loads(line)  # every record whole again
    # Damage before the end is not a cut write: refused, naming the line.
    lines = journal.read_bytes().splitlines(keepends=True)
    for damage in (b"garbage\n", b"[" * 100_000 + b"\n"):
        journal.write_bytes(b"".join([lines[0], damage, *lines[1:]]))
        with pytest.raises(StorageError, match=r"journal.log is damaged at line 2"):
            search(3)


# --- liveness by PID and start time -------------------------------------------------------


def test_a_dead_workers_pid_taken_by_another_process_does_not_keep_its_trial_running(tmp_path):
    import optuna
    from optuna.trial import TrialState

    from provador.records.storage import open_storage
    from provador.work.tuning import fail_dead_local_trials

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        study = optuna.create_study(study_name="p", storage=open_storage(None, tmp_path), direction="maximize")
        host = socket.gethostname()
        started = _system.start_time(other.pid)
        for worker_started in (started, str(int(started) - 1)):  # the same process, then an earlier one with its PID
            trial = study.ask()
            trial.set_user_attr("worker", f"{host}:{other.pid}")
            trial.set_user_attr("worker_started", worker_started)
        fail_dead_local_trials(study)
        states = [t.state for t in study.get_trials()]
        assert states == [TrialState.RUNNING, TrialState.FAIL]
        from provador.records.studies import LOST_WORKER, _trials_csv

        assert LOST_WORKER in _trials_csv(study.get_trials()).splitlines()[2]
    finally:
        other.kill()
        other.wait()
    assert _system.alive(os.getpid(), _system.start_time(os.getpid()))
    assert not _system.alive(other.pid, started)


def test_a_running_run_whose_pid_was_reused_shows_interrupted(run_copy):
    run, _ = run_copy
    run.update_info(status="running", **_system.identity())
    assert run.status == "running"
    run.update_info(pid_started="1")  # the PID (this process) now belongs to a process that is not its trainer
    assert run.status == "interrupted"


# --- sizes a search or a recipe can ask for ------------------------------------------------


@pytest.mark.parametrize(
    "space_model, message",
    [
        ({"hidden": {"layers": {"low": 1, "high": 2}, "width": {"low": 16, "high": 100_000_000}}},
         "every width must be a whole number from 1 to 8192"),
        ({"hidden": {"layers": {"low": 1, "high": 40}, "width": {"low": 16, "high": 32}}}, "at most 16 items"),
    ],
)  # fmt: skip
def test_a_space_that_asks_for_absurd_sizes_is_refused_before_training(tiny_recipe, tiny_dir, tmp_path, space_model,
                                                                       message):  # fmt: skip
    from provador.core.spaces import parse_space
    from provador.work.tuning import tune

    space = parse_space({"name": "big", "model": space_model}, "test", "big")
    with pytest.raises(ProvadorError, match=message):
        tune(tiny_recipe, space, trials=1, studies_dir=tmp_path / "studies", data_dir=tiny_dir, quiet=True)
    assert not (tmp_path / "studies").exists()


def test_training_and_searches_that_would_not_fit_in_memory_are_refused(tiny_recipe, tiny_dir, tmp_path, monkeypatch,
                                                                        capsys):  # fmt: skip
    from provador.core.spaces import parse_space
    from provador.work.training import train
    from provador.work.tuning import tune

    monkeypatch.setattr(_system, "memory_bytes", lambda: 2 * 2**30)  # a 2 GB machine
    wide = tiny_recipe.with_overrides({"model.hidden": [8192] * 6})  # 342 M weights: ~5 GB to train
    with pytest.raises(ProvadorError, match=r"342,[0-9,]+ weights.*about 5\.\d GB.*this machine has 2\.0 GB"):
        train(wide, data_dir=tiny_dir, runs_dir=tmp_path / "runs", quiet=True)
    assert not (tmp_path / "runs").exists()
    space = parse_space({"name": "w", "model": {"hidden": {"layers": {"low": 1, "high": 4},
                                                           "width": {"low": 64, "high": 8192}}}}, "test", "w")  # fmt: skip
    with pytest.raises(StudyError, match=r"its largest trial \(model\.hidden=\[8192, 8192, 8192, 8192\]\)"):
        tune(tiny_recipe, space, trials=1, studies_dir=tmp_path / "studies", data_dir=tiny_dir, quiet=True)
    code, text = run_cli(["tune", "--recipe", "seed", "--space", "mlp", "--workers", "1000"], capsys)
    assert code == 1 and f"Expected --workers to be from 1 to {os.cpu_count()}" in text


# --- checkpoints --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpointed_run(tmp_path_factory):
    """A tiny run that kept its last checkpoint, made into an unfinished one (as if killed)."""
    from provador.core.recipes import load_recipe
    from provador.work.training import train
    from tests.conftest import write_tiny_dataset

    data_dir = write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny")
    recipe = load_recipe("seed").with_overrides(
        {"data.dataset": "idx", "data.validation": 50, "training.epochs": 3, "model.hidden": [8]}
    )
    run = train(recipe, data_dir=data_dir, runs_dir=tmp_path_factory.mktemp("runs"), quiet=True, keep_checkpoints=True)
    for name in (runs.MODEL_FILE, runs.METRICS_FILE):
        (run.path / name).unlink()
    run.update_info(status="interrupted")
    return run, data_dir


def _rewrite_state(path: Path, change) -> None:
    with np.load(path) as saved:
        arrays = {key: saved[key] for key in saved.files}
    state = json.loads(str(arrays["state"]))
    change(state)
    arrays["state"] = np.array(json.dumps(state))
    np.savez(path, **arrays)


def _bomb(path: Path) -> None:
    """A small file whose first weight array inflates to 256 MB, thousands of times what the tiny
    model holds (the check compares declared sizes: 4 GB would only take longer to write)."""
    with np.load(path) as saved:
        arrays = {key: saved[key] for key in saved.files}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as f:
                if key == "model_0":
                    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (2**26,)})
                    chunk = bytes(2**24)
                    for _ in range(2**28 // 2**24):
                        f.write(chunk)
                else:
                    np.lib.format.write_array(f, value)


CHECKPOINT_DAMAGE = {
    "empty": (lambda p: p.write_bytes(b""), "File is not a zip file"),
    "cut short": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "File is not a zip file"),
    "a byte flipped": (
        lambda p: p.write_bytes((lambda b: b[:600] + bytes([b[600] ^ 0xFF]) + b[601:])(p.read_bytes())),
        "Cannot resume",
    ),
    "inflates to 256 MB": (_bomb, "model_0.npy would unpack to more than the model holds"),
    "epoch past the history": (
        lambda p: _rewrite_state(p, lambda s: s.update(epoch=3, rows=s["rows"][:1])),
        "its history does not hold epochs 1-3",
    ),  # fmt: skip
    "epoch past the recipe": (lambda p: _rewrite_state(p, lambda s: s.update(epoch=20)), "epoch 20 is not one of"),
    "negative seconds": (lambda p: _rewrite_state(p, lambda s: s.update(seconds=-5)), "time record is damaged"),
    "a foreign array": (lambda p: np.savez(p, **dict(np.load(p)), extra=np.zeros(3)), "extra.npy"),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_a_damaged_checkpoint_is_refused_and_kept(checkpointed_run, tmp_path, damage):
    from provador.work.training import train

    source, data_dir = checkpointed_run
    run = runs.Run(shutil.copytree(source.path, tmp_path / source.name))
    checkpoint = run.path / runs.CHECKPOINT_FILE
    harm, message = CHECKPOINT_DAMAGE[damage]
    harm(checkpoint)
    damaged = checkpoint.read_bytes() if checkpoint.stat().st_size < 2**26 else None
    with pytest.raises(RunError, match="Cannot resume from") as refused:
        train(resume=run, data_dir=data_dir, quiet=True)
    assert message in str(refused.value)
    assert checkpoint.is_file() and (damaged is None or checkpoint.read_bytes() == damaged)  # nothing lost
    assert not (run.path / runs.MODEL_FILE).exists()


def test_a_recipe_edited_after_its_checkpoint_is_refused_and_the_original_resumes(checkpointed_run, tmp_path):
    from provador.work.training import train

    source, data_dir = checkpointed_run
    run = runs.Run(shutil.copytree(source.path, tmp_path / source.name))
    recipe_file = run.path / runs.RECIPE_FILE
    original = recipe_file.read_text()
    recipe_file.write_text(original.replace("learning_rate = 0.01", "learning_rate = 5.0"))
    with pytest.raises(RunError, match="recipe.toml was changed after the checkpoint"):
        train(resume=run, data_dir=data_dir, quiet=True)
    recipe_file.write_text(original)
    assert train(resume=run, data_dir=data_dir, quiet=True).status == "completed"


# --- the calibration temperature ----------------------------------------------------------


@pytest.mark.parametrize("temperature", [0, -1, float("nan"), float("inf"), 1e9])
def test_an_impossible_calibration_temperature_is_refused_by_every_reader(run_copy, temperature, capsys):
    from provador.serve import create_app
    from provador.work.inference import Predictor

    run, data_dir = run_copy
    metrics = json.loads((run.path / runs.METRICS_FILE).read_text())
    metrics["calibration"]["temperature"] = temperature
    (run.path / runs.METRICS_FILE).write_text(json.dumps(metrics))
    with pytest.raises(RunError, match=r"metrics.json is damaged \(calibration.temperature"):
        Predictor(run)
    with pytest.raises(RunError, match="metrics.json is damaged"):
        create_app(run, data_dir=data_dir)
    code, text = run_cli(["predict", str(run.path), "--test-index", "0", "--data-dir", str(data_dir)], capsys)
    assert code == 1 and "metrics.json is damaged" in text


# --- ONNX files served ----------------------------------------------------------------------


def _onnx_model(path: Path, classes: int, weights_scale: float = 1.0, metadata: dict | None = None) -> None:
    """uint8 [N, 28, 28] → softmax(flatten · W); weights_scale=NaN makes every answer NaN."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = (np.random.default_rng(0).normal(size=(784, classes)) * 0.01 * weights_scale).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["pixels"], ["x"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", ["x", "shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "foreign",
        [helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["batch", 28, 28])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([-1, 784], np.int64), "shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    "kind, message",
    [
        ("foreign", "was not exported from this run's model.keras"),
        ("twenty outputs", "does not answer with probabilities for the run's 10 classes"),
        ("NaN answers", "does not answer with probabilities"),
    ],
)
def test_the_onnx_engine_serves_only_this_runs_own_sane_export(run_copy, kind, message):
    pytest.importorskip("onnxruntime")
    from provador.serve import create_app
    from provador.work.inference import Predictor

    run, data_dir = run_copy
    identity = {"model_sha256": run.model_digest(), "provador_version": "0"}
    path = run.path / runs.EXPORT_DIR / runs.ONNX_FILE
    {
        "foreign": lambda: _onnx_model(path, 10),
        "twenty outputs": lambda: _onnx_model(path, 20, metadata=identity),
        "NaN answers": lambda: _onnx_model(path, 10, weights_scale=float("nan"), metadata=identity),
    }[kind]()
    with pytest.raises(RunError, match=message):
        Predictor(run, engine="onnx")
    with pytest.raises(RunError, match=message):
        create_app(run, data_dir=data_dir, engine="onnx")
    _onnx_model(path, 10, metadata=identity)  # the same identity and sane answers: served
    assert Predictor(run, engine="onnx").predict_probabilities(np.zeros((2, 28, 28), np.uint8)).shape == (2, 10)


# --- cookies --------------------------------------------------------------------------------


def test_cookies_are_read_by_a_linear_parser_with_a_cap(monkeypatch, run_copy):
    import http.cookies

    from fastapi.testclient import TestClient

    from provador.serve import create_app
    from provador.serve.language import COOKIE_HEADER_LIMIT, request_language

    def quadratic(*args):  # CVE-2024-7592: Python 3.11's unquoting
        raise AssertionError("http.cookies must not parse request cookies")

    monkeypatch.setattr(http.cookies, "_unquote", quadratic)
    hostile = b'junk="' + b"\\" * 65536 + b'"'
    assert request_language(b"", {b"cookie": b"provador_lang=pt; " + hostile}) == "pt"
    assert request_language(b"", {b"cookie": hostile + b"; provador_lang=pt"}) == "en"  # past the cap: not read
    assert request_language(b"", {b"cookie": b'a=1; provador_lang="pt"', b"accept-language": b"en"}) == "pt"
    assert len(hostile) > COOKIE_HEADER_LIMIT
    run, data_dir = run_copy
    with TestClient(create_app(run, data_dir=data_dir)) as client:
        for cookie, lang in (
            (hostile.decode() + "; provador_lang=pt", "en"),
            ("provador_lang=pt; " + hostile.decode(), "pt"),
        ):
            reply = client.get("/", headers={"cookie": cookie, "accept-language": "en"})
            assert reply.status_code == 200 and f'<html lang="{lang}">' in reply.text


# --- catalogs and permissions -----------------------------------------------------------------


def test_a_damaged_catalog_falls_back_to_english_with_a_warning(tmp_path, monkeypatch, capsys):
    locale = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, locale)
    mo = locale / "pt" / "LC_MESSAGES" / "provador.mo"
    for damage in (b"garbage", mo.read_bytes()[:30]):
        mo.write_bytes(damage)
        monkeypatch.setattr(i18n, "LOCALE_DIR", locale)
        i18n._translations.cache_clear()
        try:
            code = main(["--lang", "pt", "recipes"])
        finally:
            i18n._translations.cache_clear()
        captured = capsys.readouterr()
        assert code == 0 and "seed" in captured.out
        assert "translations of provador cannot be read" in captured.err


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_files_follow_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    _files._umask.cache_clear()
    try:
        written = _files.write_text(tmp_path / f"f{umask:o}.json", "{}")
    finally:
        os.umask(previous)
        _files._umask.cache_clear()
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_trained_runs_files_are_readable_by_others_under_the_usual_umask(tiny_run):
    run, _ = tiny_run
    mask = _files._umask()
    for name in (runs.RUN_FILE, runs.METRICS_FILE, runs.RECIPE_FILE, runs.HISTORY_FILE):
        assert (run.path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


# --- photo folders and the collection folder ---------------------------------------------


def test_a_hostile_photo_folder_costs_a_listed_skip_per_file_and_loses_nothing(tmp_path, capsys):
    """Every crafted file in a class folder is skipped with its reason; the good photo is used,
    and `adapt`'s reading never blocks (a pipe), never loops (a link cycle) and never decodes a bomb."""
    import struct
    import zlib

    from PIL import Image

    from provador.core.datasets import FASHION_MNIST_CLASSES
    from provador.core.photo_folders import read_photo_folders

    bag = tmp_path / "photos" / "Bag"
    bag.mkdir(parents=True)
    Image.new("RGB", (80, 60), (40, 40, 40)).save(bag / "good.jpg")
    os.mkfifo(bag / "pipe.jpg")
    (bag / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    (bag / "cycle").symlink_to(bag.parent, target_is_directory=True)
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 1, 0, 0, 0, 0)  # 3.6 gigapixels declared, a few bytes sent
    chunk = b"IHDR" + ihdr
    (bag / "bomb.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)))  # fmt: skip
    (bag / "empty.jpg").write_bytes(b"")
    (bag / "text.jpg").write_text("<html>not a photo</html>")
    before = snapshot(tmp_path / "photos")
    found = read_photo_folders([tmp_path / "photos"], FASHION_MNIST_CLASSES)
    assert found.sources == [str(bag / "good.jpg")]
    reasons = dict(found.skipped)
    assert set(reasons) == {str(bag / n) for n in ("pipe.jpg", "dangling.jpg", "bomb.png", "empty.jpg", "text.jpg")}
    assert "not a regular file" in reasons[str(bag / "pipe.jpg")]
    assert "megapixels" in reasons[str(bag / "bomb.png")] or "not an image" in reasons[str(bag / "bomb.png")]
    assert snapshot(tmp_path / "photos") == before
    code, out = run_cli(["data", "info", "--photos", str(tmp_path / "photos")], capsys)
    assert code == 0 and "5 files skipped" in out


def test_the_collection_folder_takes_only_the_runs_classes_and_never_overwrites(run_copy, tmp_path):
    from fastapi.testclient import TestClient

    from provador.serve import create_app

    run, data_dir = run_copy
    folder = tmp_path / "collected"
    label = run.class_names[1]
    (folder / label).mkdir(parents=True)
    jpeg = tmp_path / "x.jpg"
    from PIL import Image

    Image.new("RGB", (50, 70), (20, 30, 40)).save(jpeg)
    data = jpeg.read_bytes()
    # A file of the teacher's already where the upload would go: kept as it is.
    name = hashlib.sha256(data).hexdigest()[:32] + ".jpg"
    (folder / label / name).write_bytes(b"the teacher's own file")
    with TestClient(create_app(run, data_dir=data_dir, collect=folder)) as client:
        for hostile in ("..", "../..", "/etc", f"{label}/../..", "%2e%2e", label + "\x00"):
            answer = client.post("/v1/collect", params={"label": hostile}, files={"file": ("x.jpg", data)})
            assert answer.status_code == 422, hostile
        answer = client.post("/v1/collect", params={"label": label}, files={"file": ("../../x.jpg", data)})
        assert answer.status_code == 200 and answer.json()["created"] is False
    assert (folder / label / name).read_bytes() == b"the teacher's own file"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) == [label, f"{label}/{name}"]
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(ProvadorError, match="Cannot collect photos into"):
            create_app(run, data_dir=data_dir, collect=read_only)
    with pytest.raises(ProvadorError, match="Cannot collect photos into"):
        create_app(run, data_dir=data_dir, collect=jpeg)  # a file, not a folder
