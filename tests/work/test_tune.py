"""Hyperparameter search: spaces, budgets, resuming, pruning, failures, workers and PostgreSQL.

Trials train the tiny MLP on the tiny IDX dataset for two or three epochs: seconds each.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from provador.base.errors import SpaceError, StorageError, StudyError
from provador.core.recipes import load_recipe
from provador.core.spaces import load_space, parse_space
from provador.records import studies
from provador.work.tuning import parse_duration, tune

TINY_SPACE = """
name = "tiny"
[model]
hidden = { layers = { low = 1, high = 2 }, width = { low = 8, high = 32 } }
[training]
learning_rate = { low = 0.02, high = 0.1, log = true }
epochs = { low = 2, high = 3 }
"""


@pytest.fixture
def tiny_space(tmp_path) -> Path:
    path = tmp_path / "tiny-space.toml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture
def train_only_dir(tiny_dir) -> Path:
    """The tiny dataset without its test files: a search that opened them would fail."""
    for leftover in tiny_dir.glob("t10k-*"):
        leftover.unlink()
    return tiny_dir


def read_trials(folder: Path) -> list[dict]:
    with (folder / studies.TRIALS_FILE).open(newline="") as f:
        return list(csv.DictReader(f))


def journal_study(folder: Path, name: str) -> optuna.Study:
    from provador.records.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(None, folder))


# --- search spaces --------------------------------------------------------------------


def test_shipped_spaces_fit_their_recipes():
    for name, keys in (("mlp", {"model.hidden", "training.learning_rate", "training.epochs"}),
                       ("cnn", {"model.filters", "model.batch_norm", "model.augmentation"})):  # fmt: skip
        space = load_space(name)
        assert keys <= set(space.params)
        space.check_against(load_recipe(space.recipe))  # raises if a bound or choice is invalid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[training]\nlearning_rat = { low = 0.001, high = 0.1 }", "Did you mean `training.learning_rate`?"),
        ("[training]\nlearning_rate = { low = 0.1, high = 0.001 }", "empty range: low (0.1) is above high (0.001)"),
        ("[training]\noptimizer = { choices = ['adam', 'adagrad'] }", "'adagrad' is not accepted by recipe"),
        ("[trainin]\nepochs = { low = 1, high = 3 }", "Did you mean `training`?"),
        ("[data]\nvalidation = { low = 1000, high = 5000 }", "the validation split must be the same"),
        ("[training]\nlearning_rate = { low = 0.0, high = 0.1, log = true }", "a log range needs low > 0"),
        ("[training]\nepochs = { low = 1, hihg = 3 }", "Unknown space key `training.epochs.hihg`"),
        ("[training]\nepochs = 5", "expected `training.epochs` to be a table"),
    ],
)
def test_space_mistakes_are_named_before_any_training(text, expected):
    with pytest.raises(SpaceError) as caught:
        import tomllib

        parse_space(tomllib.loads(text), "bad.toml", "bad").check_against(load_recipe("mlp-fast"))
    assert expected in str(caught.value)


def test_list_parameters_search_depth_and_widths():
    space = parse_space(
        {
            "model": {
                "filters": {"layers": {"low": 2, "high": 3}, "width": {"low": 16, "high": 32, "step": 8}, "growth": 2}
            }
        },  # fmt: skip
        "inline",
        "inline",
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = [space.suggest(study.ask())["model.filters"] for _ in range(20)]
    assert all(len(f) in (2, 3) and f[0] in (16, 24, 32) and f[1] == 2 * f[0] for f in seen)
    assert {len(f) for f in seen} == {2, 3}


def test_durations():
    assert parse_duration("90") == 90 and parse_duration("15m") == 900
    assert parse_duration("2h") == 7200 and parse_duration("1h30m") == 5400
    with pytest.raises(StudyError, match="90s, 15m, 2h"):
        parse_duration("soon")


# --- a search on the embedded storage --------------------------------------------------


def test_search_never_opens_the_test_set_and_leaves_a_usable_study(tiny_recipe, tiny_space, train_only_dir, tmp_path):
    from provador import workflow  # provador.tune: the search, then the study's report

    summary = workflow.tune(
        tiny_recipe, tiny_space, trials=3, studies_dir=tmp_path / "studies", data_dir=train_only_dir, quiet=True
    )
    folder = Path(summary.folder)
    assert summary.study == "seed-tiny" and folder == tmp_path / "studies" / "seed-tiny"
    rows = read_trials(folder)
    assert [r["trial"] for r in rows] == ["0", "1", "2"]
    # trial 0 is the recipe itself, so the search keeps only what beats it
    assert (rows[0]["model.hidden"], rows[0]["training.learning_rate"], rows[0]["training.epochs"]) == (
        "[32, 16]",
        "0.05",
        "3",
    )
    assert summary.trials["complete"] + summary.trials["pruned"] == 3
    # best.toml is a complete recipe carrying the best trial's values
    best = load_recipe(summary.best_recipe)
    winner = next(r for r in rows if r["trial"] == str(summary.best["trial"]))
    assert best.training.epochs == int(winner["training.epochs"])
    assert best.model_params["hidden"] == json.loads(winner["model.hidden"])
    assert abs(summary.best["val_accuracy"] - float(winner["val_accuracy"])) < 1e-4
    assert "The test set was not used" in Path(summary.best_recipe).read_text()
    # every trial is a light run that `runs` lists; the best one kept its model
    from provador.records.runs import Run, list_runs

    listed = list_runs(folder / studies.TRIALS_DIR)
    assert len(listed) == 3 and all(r["test_accuracy"] is None for r in listed)
    best_run = Run(summary.best["run"])
    assert (best_run.path / "model.keras").is_file() and best_run.metrics["val_accuracy"] == summary.best[
        "val_accuracy"
    ]
    # pictures and a self-contained report
    for name in ("history.png", "slices.png", "report.html"):
        assert (folder / name).stat().st_size > 1000
    page = (folder / "report.html").read_text()
    assert (
        "validation accuracy <b>" in page and "data:image/png;base64," in page and "http" not in page.split("<body>")[1]
    )


@pytest.mark.slow
def test_resumed_study_continues_its_numbering(tiny_recipe, tiny_space, tiny_dir, tmp_path, capsys):
    common = dict(studies_dir=tmp_path / "studies", data_dir=tiny_dir, study="resume-me")
    tune(tiny_recipe, tiny_space, trials=2, quiet=True, **common)
    first = read_trials(tmp_path / "studies" / "resume-me")
    summary = tune(tiny_recipe, tiny_space, trials=4, **common)
    out = capsys.readouterr().out
    rows = read_trials(Path(summary.folder))
    assert [r["trial"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[:2] == first  # the first two trials are untouched
    assert "Resuming: 2 trials on record" in out and "trial   2" in out and "trial   3" in out
    tune(tiny_recipe, tiny_space, trials=4, **common)
    assert "nothing to run" in capsys.readouterr().out
    assert len(read_trials(Path(summary.folder))) == 4


def test_a_study_with_another_space_is_refused_unless_resumed(tiny_recipe, tiny_space, tiny_dir, tmp_path):
    common = dict(studies_dir=tmp_path / "studies", data_dir=tiny_dir, study="s", quiet=True)
    tune(tiny_recipe, tiny_space, trials=1, **common)
    other = tmp_path / "other.toml"
    other.write_text('name = "tiny"\n[training]\nlearning_rate = { low = 0.03, high = 0.05, log = true }\n')
    with pytest.raises(StudyError, match="already exists with another space"):
        tune(tiny_recipe, other, trials=2, **common)
    assert len(read_trials(tmp_path / "studies" / "s")) == 1  # nothing ran
    summary = tune(tiny_recipe, other, trials=2, resume=True, **common)
    assert summary.trials["complete"] + summary.trials["pruned"] == 2
    clash = tmp_path / "clash.toml"
    clash.write_text('name = "tiny"\n[training]\nlearning_rate = { low = 0.03, high = 0.05 }\n')
    with pytest.raises(StudyError, match="`training.learning_rate` is searched differently"):
        tune(tiny_recipe, clash, trials=3, resume=True, **common)


@pytest.mark.slow
def test_a_diverging_trial_fails_with_its_reason_and_the_search_goes_on(tiny_recipe, tiny_dir, tmp_path):
    space = tmp_path / "wild.toml"
    space.write_text("[training]\nlearning_rate = { choices = [1e30, 0.05] }\nepochs = { low = 2, high = 2 }\n")
    summary = tune(
        tiny_recipe, space, trials=4, studies_dir=tmp_path / "studies", data_dir=tiny_dir, quiet=True,
        sampler="random",
    )  # fmt: skip
    rows = read_trials(Path(summary.folder))
    failed = [r for r in rows if r["state"] == "failed"]
    assert len(rows) == 4 and failed and len(failed) < 4
    assert all("diverged" in r["note"] and r["training.learning_rate"] == "1e+30" for r in failed)
    assert summary.best is not None and summary.best["overrides"]["training.learning_rate"] == 0.05


def test_a_pruned_trial_stops_early_and_its_run_says_so(tiny_recipe, tiny_dir, tmp_path):
    from provador.core.datasets import dataset_for
    from provador.records.runs import Run
    from provador.records.storage import Storage
    from provador.work.tuning.job import Job
    from provador.work.tuning.trial import Objective

    recipe = tiny_recipe.with_overrides({"training.epochs": 6})
    space = parse_space({"training": {"learning_rate": {"low": 0.05, "high": 0.05}}}, "inline", "inline")
    job = Job(recipe=recipe, space=space, study="p", folder=tmp_path / "p", storage=Storage(), target=1,
               deadline=None, trial_time=None, data_dir=str(tiny_dir), sampler="tpe", pruner="median", heartbeat=60, seed=0,
               quiet=True, started=time.time())  # fmt: skip
    dataset = dataset_for(recipe, tiny_dir, progress=False, include_test=False)
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.01))
    study.optimize(Objective(job, dataset), n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED and list(trial.intermediate_values) == [17]  # 1 of 6 epochs: 17%
    run = Run(tmp_path / "p" / "trials" / trial.user_attrs["run"])
    assert run.status == "pruned" and "after epoch 1 of 6" in run.info["reason"]
    assert len(run.history()["val_accuracy"]) == 1


def test_the_time_budget_stops_a_running_trial(tiny_recipe, tiny_space, tiny_dir, tmp_path):
    recipe = tiny_recipe.with_overrides({"training.epochs": 5000})  # far more than 3 s on any machine
    space = tmp_path / "long.toml"
    space.write_text("[training]\nlearning_rate = { low = 0.02, high = 0.05 }\n")
    # 3 s: the budget counts from the call, and loading the data on a busy machine takes about one
    summary = tune(recipe, space, timeout="3s", studies_dir=tmp_path / "studies", data_dir=tiny_dir, quiet=True)
    rows = read_trials(Path(summary.folder))
    assert len(rows) == 1 and rows[0]["state"] == "pruned" and "time budget" in rows[0]["note"]
    assert int(rows[0]["epochs"]) < 5000


def test_a_trial_too_slow_for_the_per_trial_limit_is_stopped(tiny_recipe, tiny_dir, tmp_path):
    recipe = tiny_recipe.with_overrides({"training.epochs": 300})
    space = tmp_path / "lr.toml"
    space.write_text("[training]\nlearning_rate = { low = 0.02, high = 0.05 }\n")
    summary = tune(
        recipe, space, trials=1, trial_time="0.5s", studies_dir=tmp_path / "s", data_dir=tiny_dir, quiet=True
    )
    (row,) = read_trials(Path(summary.folder))
    assert row["state"] == "pruned" and "300 epochs would not train within 0.5 s" in row["note"]
    assert int(row["epochs"]) < 300


def test_the_per_trial_limit_projects_the_pace_without_the_first_epochs_compiling():
    from provador.work.tuning.trial import ReportToTrial

    reporter = ReportToTrial(trial=None, epochs=20, deadline=None, trial_time=15)
    reporter.started, reporter.first_epoch_end = 0.0, 3.0  # compiling made the first epoch 3 s
    assert not reporter._over_time(2, now=3.7)  # 0.7 s per epoch after it: 3 + 19 × 0.7 = 16.3 s, fits
    assert reporter._over_time(2, now=4.5)  # 1.5 s per epoch: 31.5 s, stop now rather than at 15 s
    assert reporter._over_time(5, now=15.5)  # past the limit itself


def test_budget_and_storage_mistakes_stop_before_training(tiny_recipe, tiny_space, tiny_dir, tmp_path):
    common = dict(studies_dir=tmp_path / "studies", data_dir=tiny_dir, quiet=True)
    with pytest.raises(StudyError, match="Expected --trials to be a positive"):
        tune(tiny_recipe, tiny_space, trials=0, **common)
    with pytest.raises(StudyError, match="Expected --timeout to be a positive"):
        tune(tiny_recipe, tiny_space, timeout="0s", **common)
    with pytest.raises(StorageError) as caught:
        tune(tiny_recipe, tiny_space, trials=1, storage="postgresql://alice@127.0.0.1:1/provador_db", **common)
    message = str(caught.value)
    assert "`provador_db` on 127.0.0.1:1 as user `alice`" in message and "Check that the server runs" in message
    with pytest.raises(StorageError, match="Expected --storage to be a PostgreSQL URL"):
        tune(tiny_recipe, tiny_space, trials=1, storage="sqlite:///x.db", **common)
    assert not (tmp_path / "studies" / "seed-tiny" / "trials").exists()


@pytest.mark.slow
def test_cli_tune_final_studies_and_report(tiny_recipe, tiny_space, tiny_dir, tmp_path, capsys, monkeypatch):
    from provador.cli import main

    monkeypatch.chdir(tmp_path)
    recipe_file = tmp_path / "tiny.toml"
    recipe_file.write_text(tiny_recipe.to_toml())
    argv = ["tune", "--recipe", str(recipe_file), "--space", str(tiny_space), "--trials", "2", "--study", "class-1",
            "--data-dir", str(tiny_dir), "--final"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "trial   0" in out and "trial   1" in out and "The test set is not loaded" in out
    assert "Test accuracy:" in out  # --final: the winner, retrained and tested once
    summary = json.loads((tmp_path / "studies" / "class-1" / "summary.json").read_text())
    assert summary["final"]["test_accuracy"] > 0.3 and Path(summary["final"]["run"]).is_dir()

    assert main(["studies"]) == 0
    out = capsys.readouterr().out
    assert "class-1" in out and f"{summary['best']['val_accuracy']:.4f}" in out
    assert main(["studies", "show", "class-1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("trial  state") and "Best recipe: studies/class-1/best.toml" in out
    assert main(["studies", "show", "nope"]) == 1
    assert "No study `nope`" in capsys.readouterr().err
    # the best trial's run works with `provador report` (it kept its model)
    assert main(["report", summary["best"]["run"], "--data-dir", str(tiny_dir)]) == 0


def test_cli_rejects_a_bad_space_in_one_paragraph(tiny_dir, tmp_path, capsys):
    from provador.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text("[training]\nlearning_rate = { low = 0.1, high = 0.01 }\n")
    code = main(["tune", "--recipe", "mlp-fast", "--space", str(bad), "--studies-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1 and "empty range" in err
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_two_local_workers_share_the_journal(tiny_recipe, tiny_space, tiny_dir, tmp_path):
    summary = tune(
        tiny_recipe, tiny_space, trials=4, workers=2, studies_dir=tmp_path / "studies", data_dir=tiny_dir, quiet=True
    )
    study = journal_study(Path(summary.folder), summary.study)
    finished = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert sorted(t.number for t in study.trials) == list(range(len(study.trials)))
    assert len(finished) == 4
    assert len({t.user_attrs["worker"] for t in finished}) == 2  # two processes did the work


@pytest.mark.slow
def test_ctrl_c_fails_the_running_trial_and_the_study_resumes(tiny_recipe, tiny_space, tiny_dir, tmp_path):
    recipe_file = tmp_path / "slow.toml"
    # Long enough that the signal always lands mid-trial: 400 epochs (6 s) once ended before a
    # test worker starved of CPU saw the first epoch's history.csv.
    recipe_file.write_text(tiny_recipe.with_overrides({"training.epochs": 5000}).to_toml())
    space = tmp_path / "lr.toml"
    space.write_text("[training]\nlearning_rate = { low = 0.02, high = 0.05 }\n")
    command = [sys.executable, "-m", "provador", "tune", "--recipe", str(recipe_file), "--space", str(space),
               "--trials", "1", "--study", "stop-me", "--data-dir", str(tiny_dir), "--studies-dir", str(tmp_path)]  # fmt: skip
    # A shell that starts CI in the background ignores SIGINT, and its children inherit that (so
    # Python installs no KeyboardInterrupt handler); a signal mask would pass through exec as well.
    # The worker starts as a terminal's child does: SIGINT at its default and not blocked, set by a
    # one-line Python that then execs it (a preexec_fn would run Python in a fork of this threaded process).
    as_from_a_terminal = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); os.execv(sys.argv[1], sys.argv[1:])"
    )
    worker = subprocess.Popen([sys.executable, "-c", as_from_a_terminal, *command],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    folder = tmp_path / "stop-me"
    wait_for(lambda: any(r.endswith("history.csv") for r in map(str, folder.glob("trials/*/history.csv"))), worker)
    worker.send_signal(signal.SIGINT)
    out, err = worker.communicate(timeout=60)
    assert worker.returncode == 130, f"stdout:\n{out}\nstderr:\n{err}"
    assert "run the same command again to resume" in out
    study = journal_study(folder, "stop-me")
    assert [t.state for t in study.trials] == [TrialState.FAIL]
    # resuming runs the lost trial again, under the next number
    shorter = [
        *command[: command.index("--trials")],
        "--trials",
        "1",
        "--timeout",
        "2s",
        *command[command.index("--study") :],
    ]
    done = subprocess.run(shorter, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    study = journal_study(folder, "stop-me")
    assert [t.number for t in study.trials] == [0, 1] and study.trials[1].state == TrialState.PRUNED


def wait_for(condition, process: subprocess.Popen, timeout: float = 90) -> None:
    end = time.time() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"worker ended early: {process.communicate()}")
        if time.time() > end:
            process.kill()
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.2)


# --- PostgreSQL: a real server, two workers, one of them killed ------------------------------


@pytest.mark.slow
def test_two_workers_on_postgresql_and_a_killed_one(postgres_url, tiny_recipe, tiny_space, tiny_dir, tmp_path):
    recipe_file = tmp_path / "tiny.toml"
    recipe_file.write_text(tiny_recipe.with_overrides({"training.epochs": 3}).to_toml())
    command = lambda folder: [  # noqa: E731
        sys.executable, "-m", "provador", "tune", "--recipe", str(recipe_file), "--space", str(tiny_space),
        "--trials", "6", "--study", "shared", "--storage", postgres_url, "--heartbeat", "2",
        "--data-dir", str(tiny_dir), "--studies-dir", str(tmp_path / folder),
    ]  # fmt: skip
    from provador.records.storage import open_storage

    def trials():
        try:
            return optuna.load_study(study_name="shared", storage=open_storage(postgres_url, tmp_path)).trials
        except KeyError:
            return []

    victim = subprocess.Popen(command("machine-a"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(t.user_attrs.get("worker", "").endswith(f":{victim.pid}") for t in trials()), victim)
    survivor = subprocess.Popen(command("machine-b"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any(t.user_attrs.get("worker", "").endswith(f":{survivor.pid}") for t in trials()), survivor)

    def victim_mid_trial():
        return any(t.state == TrialState.RUNNING and t.user_attrs.get("worker", "").endswith(f":{victim.pid}")
                   for t in trials())  # fmt: skip

    wait_for(victim_mid_trial, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    out, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err
    final = trials()
    numbers = [t.number for t in final]
    assert numbers == list(range(len(final)))  # never a repeated number
    killed = [
        t for t in final if t.user_attrs.get("worker", "").endswith(f":{victim.pid}") and t.state == TrialState.FAIL
    ]
    assert killed, [(t.number, t.state, t.user_attrs.get("worker")) for t in final]
    finished = [t for t in final if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 6 and not [t for t in final if t.state == TrialState.RUNNING]
    assert "best" in out and (tmp_path / "machine-b" / "shared" / "best.toml").is_file()
