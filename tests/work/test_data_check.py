"""`provador data check` on IDX files with planted duplicates and a planted mislabel."""

from __future__ import annotations

import json

import numpy as np
import pytest

from provador.cli import main
from provador.core import idx
from provador.core.datasets import SPLIT_FILES, load_dataset
from provador.work.data_check import check, training_and_test
from tests.conftest import write_tiny_dataset


@pytest.fixture
def planted(tmp_path):
    """The tiny dataset with: train 31 an exact copy of train 30; test 3 an exact copy of train 10;
    test 5 train 20 with ±1 grey level of noise (a near copy); test 7 train 40 with ±20 (not one)."""
    folder = write_tiny_dataset(tmp_path / "planted")
    read = {part: idx.read(folder / f"{SPLIT_FILES[part]}.gz") for part in SPLIT_FILES}
    train, test = read["train_images"].copy(), read["test_images"].copy()
    rng = np.random.default_rng(3)
    train[31] = train[30]
    test[3] = train[10]
    test[5] = np.clip(train[20].astype(int) + rng.choice([-1, 1], size=(28, 28)), 0, 255).astype(np.uint8)
    test[7] = np.clip(train[40].astype(int) + rng.choice([-20, 20], size=(28, 28)), 0, 255).astype(np.uint8)
    idx.write(folder / f"{SPLIT_FILES['train_images']}.gz", train)
    idx.write(folder / f"{SPLIT_FILES['test_images']}.gz", test)
    return folder


def test_planted_duplicates_are_found_and_only_they(planted):
    data = load_dataset("idx", planted, validation=1)
    found = check(data, near=0.01)
    assert found.exact["train"] == [[30, 31]] and found.exact["test"] == []
    assert found.exact["across"] == [[10, 3]]
    across = [(a, b) for a, b, _ in found.near_pairs["across"]]
    assert across == [(20, 5)]  # ±1 level is 0.4% of the range; ±20 (7.8%) is not a copy
    assert found.near_pairs["across"][0][2] == pytest.approx(1 / 255, rel=0.05)  # (a few clipped at 0 or 255)
    assert found.test_in_training() == {3, 5}
    x_train, _, _, _ = training_and_test(data)
    assert (x_train[30] == x_train[31]).all()  # indices are the training file's own


def test_with_a_run_it_names_the_doubted_labels_and_the_clean_accuracy(tiny_run, tmp_path, capsys):
    run, data_dir = tiny_run
    output = tmp_path / "check"
    assert main(["data", "check", "--run", str(run.path), "--data-dir", str(data_dir), "--output", str(output),
                 "--doubt", "0.1", "--json"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result == json.loads((output / "data-check.json").read_text()) | {"report": str(output / "data-check.json")}
    _, y_train, _, y_test = training_and_test(load_dataset("idx", data_dir, validation=1))
    mislabelled = set(range(5, 100, 12))  # write_tiny_dataset shifts every twelfth test label by one
    doubted = {d["index"] for d in result["label_doubts"] if d["set"] == "test"}
    assert doubted and doubted <= mislabelled
    for d in result["label_doubts"]:
        assert d["label"] == int((y_test if d["set"] == "test" else y_train)[d["index"]]) and d["label"] != d["answer"]
    assert result["clean_test"]["left_out"] == 0 and result["clean_test"]["accuracy"] == pytest.approx(
        run.metrics["test"]["accuracy"], abs=0.02)  # fmt: skip
    assert (output / "doubts.png").read_bytes().startswith(b"\x89PNG")
    assert main(["data", "check", "--data-dir", str(data_dir), "--dataset", "idx", "--output", str(output)]) == 0
    text = capsys.readouterr().out
    assert "Exact duplicates: 0 within training, 0 within test, 0 across" in text
    assert main(["data", "check", "--near", "2", "--dataset", "idx", "--data-dir", str(data_dir)]) == 1
    assert "Expected --near to be a share of the pixel range between 0 and 1" in capsys.readouterr().err
