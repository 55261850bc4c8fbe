"""Shared fixtures: tiny IDX datasets written by the tests, and the real Fashion-MNIST."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from provador.core import idx
from provador.core.datasets import SPLIT_FILES, SYSTEM_DIR, cache_dir


def _find_real_data() -> Path | None:
    """Fashion-MNIST wherever provador itself finds it without downloading: $PROVADOR_DATA_DIR,
    the user's cache (where `make demo` downloads it when Debian's package cannot be installed),
    then Debian's package. Read before the tests isolate the environment."""
    places = [Path(os.environ["PROVADOR_DATA_DIR"])] if os.environ.get("PROVADOR_DATA_DIR") else []
    for folder in (*places, cache_dir() / "fashion-mnist", SYSTEM_DIR):
        if all((folder / f"{stem}.gz").is_file() or (folder / stem).is_file() for stem in SPLIT_FILES.values()):
            return folder
    return None


REAL_DATA = _find_real_data()


def missing(piece: str, fix: str):
    """A tool or data set some tests need is absent: fail where the suite promises to run
    everything (`make test`, CI), skip where the caller opted out (`make test ALLOW_SKIPS=1`,
    or plain pytest), saying how to get it."""
    if os.environ.get("PROVADOR_REQUIRE_ALL") or os.environ.get("CI"):
        pytest.fail(
            f"{piece} is required here: {fix} (or run `make test ALLOW_SKIPS=1` to skip the tests that need it)"
        )
    pytest.skip(f"{piece} not available: {fix}")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No test downloads, reads the user's cache, or sees the caller's data or language settings."""
    monkeypatch.setenv("PROVADOR_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("PROVADOR_DATA_DIR", raising=False)
    monkeypatch.delenv("PROVADOR_MIRROR", raising=False)
    monkeypatch.setenv("PROVADOR_LANG", "en")  # the tests read English unless they choose Portuguese


def ctrl_c_after_epoch_two(monkeypatch) -> None:
    """Training is interrupted (as by Ctrl-C) once its second epoch's history row is written,
    before that epoch's checkpoint: `monkeypatch.undo()` lets training run normally again."""
    from provador.work.callbacks import HistoryRecorder

    original = HistoryRecorder.on_epoch_end

    def interrupted(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(HistoryRecorder, "on_epoch_end", interrupted)


def make_images(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """28×28 uint8 images a small model can learn: class k lights rows 2k to 2k+3."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, size=(len(labels), 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label : 2 * label + 4, 4:24] = 230
    return images


def write_tiny_dataset(directory: Path, n_train: int = 400, n_test: int = 100, gz: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    suffix = ".gz" if gz else ""
    for part, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images = make_images(labels, seed=n)
        if part == "test":  # mislabel one test image in twelve, so every run makes some mistakes
            labels[5::12] = (labels[5::12] + 1) % 10
        idx.write(directory / f"{SPLIT_FILES[part + '_images']}{suffix}", images)
        idx.write(directory / f"{SPLIT_FILES[part + '_labels']}{suffix}", labels)
    return directory


@pytest.fixture
def tiny_dir(tmp_path) -> Path:
    """A folder with four small, learnable IDX files (not Fashion-MNIST: use dataset `idx`)."""
    return write_tiny_dataset(tmp_path / "tiny")


@pytest.fixture
def tiny_recipe():
    """The seed recipe pointed at the tiny `idx` dataset, sized to train in about a second."""
    from provador.core.recipes import load_recipe

    return load_recipe("seed").with_overrides(
        {
            "data.dataset": "idx",
            "data.validation": 50,
            "training.epochs": 3,
            "training.learning_rate": 0.05,
            "model.hidden": [32, 16],
        }
    )


@pytest.fixture
def real_data(monkeypatch) -> Path:
    """The real Fashion-MNIST, found where provador finds it (see `_find_real_data`); what the
    test runs (a notebook's kernel too) finds it there as well."""
    if REAL_DATA is None:
        missing("Fashion-MNIST", "`make data` (Debian's dataset-fashion-mnist as root, else a checked download)")
    if REAL_DATA != SYSTEM_DIR:
        monkeypatch.setenv("PROVADOR_DATA_DIR", str(REAL_DATA))
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One trained run on the tiny dataset, shared by the read-only tests."""
    from provador.core.recipes import load_recipe
    from provador.workflow import train  # with its report: the read-only tests look at it too

    directory = write_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny")
    recipe = load_recipe("seed").with_overrides(
        {"data.dataset": "idx", "data.validation": 50, "training.epochs": 3,
         "training.learning_rate": 0.05, "model.hidden": [32, 16]}
    )  # fmt: skip
    run = train(recipe, data_dir=directory, runs_dir=tmp_path_factory.mktemp("runs"), quiet=True)
    return run, directory


def chromium(*flags: str, prefs: dict | None = None, log_requests: bool = False):
    """Headless Chromium driven by Selenium (Debian's chromium + chromium-driver), with `flags`
    added; `log_requests` keeps the performance log, which lists every request a page makes.
    Missing Chromium fails under `make test` and skips elsewhere (see `missing`)."""
    import shutil

    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver_path):
        missing("Chromium", "apt-get install chromium chromium-driver (`make test` installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,900", *flags):  # fmt: skip
        options.add_argument(flag)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    if log_requests:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A copy of the shared tiny run, for a test that writes into a run (the shared one stays as
    every other test expects it)."""
    import shutil

    from provador.records import runs

    run, data_dir = tiny_run
    return runs.Run(shutil.copytree(run.path, tmp_path / "runs" / run.name)), data_dir


def _postgres_bin() -> Path | None:
    """PostgreSQL's server programs: Debian's (package `postgresql`, newest version first, not on
    the PATH), else wherever `initdb` and `pg_ctl` are on the PATH (other systems, builds by hand)."""
    import shutil

    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    return None


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL server for the session (what pg_virtualenv does, as a fixture).

    As root the server runs as the `postgres` user, which Debian's package creates. Required in
    `make test` and CI; skipped elsewhere when PostgreSQL is not installed.
    """
    import shutil
    import socket
    import subprocess
    import tempfile

    bindir = _postgres_bin()
    if bindir is None:
        if os.environ.get("PROVADOR_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL is required here: apt-get install postgresql (`make test` does it as root)")
        missing("PostgreSQL", "apt-get install postgresql (`make test` installs it as root), or put initdb on the PATH")
    root = Path(tempfile.mkdtemp(prefix="provador-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = root / "data"

    def pg(*args):
        subprocess.run([*as_postgres, *map(str, args)], check=True, capture_output=True, timeout=120)

    pg(bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync")
    pg(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "start",
       "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off")  # fmt: skip
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE provador")
        yield f"postgresql://postgres@127.0.0.1:{port}/provador"
    finally:
        subprocess.run([*as_postgres, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
