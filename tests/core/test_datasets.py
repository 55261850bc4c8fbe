import functools
import gzip
import http.server
import shutil
import threading

import numpy as np
import pytest

from provador.base.errors import DataHashError, DataNotFoundError
from provador.core import datasets
from provador.core.datasets import SPLIT_FILES, load_dataset, locate
from tests.conftest import write_tiny_dataset


def test_idx_dataset_loads_from_data_dir_with_class_names(tiny_dir):
    (tiny_dir / "classes.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    data = load_dataset("idx", tiny_dir, validation=50)
    assert data.x_train.shape == (350, 28, 28) and data.x_train.dtype == np.uint8
    assert data.x_valid.shape == (50, 28, 28) and data.x_test.shape == (100, 28, 28)
    assert data.class_names[3] == "c3"
    assert data.source.verified is False
    summary = data.summary()
    assert sum(summary["train"]["per_class"].values()) == 350


def test_raw_files_work_like_gz(tmp_path):
    directory = write_tiny_dataset(tmp_path / "raw", gz=False)
    assert load_dataset("idx", directory, validation=10).x_test.shape == (100, 28, 28)


def test_search_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    first = write_tiny_dataset(tmp_path / "first")
    second = write_tiny_dataset(tmp_path / "second")
    monkeypatch.setenv("PROVADOR_DATA_DIR", str(second))
    assert locate("idx", first).directory == first
    assert locate("idx").directory == second
    assert locate("idx").how_found == "$PROVADOR_DATA_DIR"


def test_max_train_keeps_a_slice(tiny_dir):
    data = load_dataset("idx", tiny_dir, validation=50, max_train=100)
    assert len(data.x_train) == 100 and len(data.x_valid) == 50


def test_not_found_lists_places_and_both_fixes(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError) as info:
        locate("fashion-mnist")  # no --data-dir: every place provador looks by itself is listed
    message = str(info.value)
    assert str(datasets.cache_dir()) in message and str(tmp_path / "nowhere") in message
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message
    assert "PROVADOR_OFFLINE" in message


def test_hash_mismatch_names_the_file(tmp_path):
    fake = write_tiny_dataset(tmp_path / "fake")
    with pytest.raises(DataHashError) as info:
        locate("fashion-mnist", fake)
    assert "train-images-idx3-ubyte.gz" in str(info.value) and "--set data.dataset=idx" in str(info.value)


def test_real_fashion_mnist_matches_the_notebook(real_data):
    data = load_dataset(data_dir=real_data)
    assert data.source.verified
    full = np.concatenate([data.x_valid, data.x_train])
    assert full.shape == (60000, 28, 28) and full.dtype == np.uint8
    assert data.x_valid.shape == (1000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert np.bincount(data.y_test).tolist() == [1000] * 10
    assert np.bincount(np.concatenate([data.y_valid, data.y_train])).tolist() == [6000] * 10
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    # The notebook's last cell: the first five test images are these classes.
    assert [data.class_names[i] for i in data.y_test[:5]] == ["Ankle boot", "Pullover", "Trouser", "Trouser", "Shirt"]


@pytest.fixture
def mirror(tmp_path, real_data):
    """A loopback HTTP server over a copy of the real .gz files (a different gzip wrapper)."""
    served = tmp_path / "mirror"
    served.mkdir()
    for stem in SPLIT_FILES.values():
        content = gzip.decompress((real_data / f"{stem}.gz").read_bytes())
        (served / f"{stem}.gz").write_bytes(gzip.compress(content, compresslevel=1))
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_verifies_and_lands_in_cache(mirror, tmp_path, monkeypatch, capsys):
    _, url = mirror
    monkeypatch.setattr(datasets, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("PROVADOR_MIRROR", url)
    source = locate("fashion-mnist", allow_download=True)
    assert source.directory == datasets.cache_dir() and source.verified
    err = capsys.readouterr().err
    assert "Downloading train-images-idx3-ubyte.gz (" in err
    # Not a terminal: one line per file, not a bar rewritten for every chunk.
    assert err.count("Downloading") == 4 and "\r" not in err and len(err.splitlines()) == 4
    assert sorted(p.name for p in source.directory.iterdir()) == sorted(f"{s}.gz" for s in SPLIT_FILES.values())


def test_corrupted_download_leaves_nothing_that_looks_complete(mirror, tmp_path, monkeypatch):
    served, url = mirror
    broken = served / "train-labels-idx1-ubyte.gz"
    broken.write_bytes(broken.read_bytes()[:-50])
    monkeypatch.setattr(datasets, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("PROVADOR_MIRROR", url)
    with pytest.raises(DataNotFoundError, match="damaged"):
        locate("fashion-mnist", allow_download=True, progress=False)
    left = sorted(p.name for p in datasets.cache_dir().iterdir())
    assert "train-labels-idx1-ubyte.gz" not in left
    assert not [name for name in left if name.endswith(".part")]


def test_offline_download_failure_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("PROVADOR_MIRROR", "http://127.0.0.1:9/")  # discard port: refused at once
    with pytest.raises(DataNotFoundError, match="download\\): failed"):
        locate("fashion-mnist", allow_download=True, progress=False)


def test_files_found_in_a_copy_are_accepted(real_data, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(real_data, copy)
    assert locate("fashion-mnist", copy).verified


def test_every_dataset_a_recipe_may_name_is_in_the_registry_and_only_those():
    from provador.base.choices import DATASETS
    from provador.core.datasets import DATASET_KINDS

    assert set(DATASET_KINDS) == set(DATASETS)
    assert DATASET_KINDS["fashion-mnist"].sha256 and not DATASET_KINDS["idx"].sha256
