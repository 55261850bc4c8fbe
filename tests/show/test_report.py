"""Pictures, report.html, `provador runs` and `--compare` on a trained tiny run."""

import base64
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from provador.base.errors import RunError
from provador.cli import main
from provador.records import runs
from provador.records.runs import PICTURES
from provador.show.report import build_report


def test_every_picture_is_a_readable_png(tiny_run):
    run, _ = tiny_run
    for name in PICTURES:
        with Image.open(runs.picture_path(run, name)) as image:
            assert image.format == "PNG" and image.width >= 600 and image.height >= 300


def test_metrics_json_holds_the_numbers_behind_the_pictures(tiny_run):
    run, _ = tiny_run
    test = run.metrics["test"]
    matrix = np.array(test["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == test["images"] == 100
    assert np.trace(matrix) / matrix.sum() == pytest.approx(test["accuracy"])
    assert set(test["per_class"]) == set(run.class_names)


def test_report_is_self_contained_and_complete(tiny_run):
    run, _ = tiny_run
    page = (run.path / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(embedded) == len(PICTURES)
    for data in embedded:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    assert not re.search(r'(src|href)="https?://', page)  # nothing fetched from the network
    for heading in ("Learning curves", "Metrics per class", "Confusion matrix", "Test images",
                    "Most confident mistakes", "Why it said that", "First-layer weights", "Model", "Data", "Recipe",
                    "Environment"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page
    assert f"Test accuracy <b>{run.metrics['test']['accuracy']:.4f}</b>" in page
    assert "dense_1" in page and "keras" in page
    calibration = run.metrics["test"]["calibration"]
    assert f"at temperature {calibration['temperature']:.3g}, fitted on the validation split" in page
    assert calibration["temperature"] >= 1 and calibration["fitted_temperature"] > 0


def test_report_command_rebuilds_it(run_copy, capsys):
    run, data_dir = run_copy
    (run.path / "report.html").unlink()
    (run.path / "confusion.png").unlink()
    assert main(["report", str(run.path), "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"Report: {run.path / 'report.html'}"
    assert (run.path / "report.html").is_file() and (run.path / "confusion.png").is_file()


@pytest.mark.parametrize("status", ["failed", "interrupted"])
def test_report_refuses_unfinished_runs(run_copy, status):
    run, data_dir = run_copy
    run.update_info(status=status, error="boom" if status == "failed" else None)
    with pytest.raises(RunError, match=f"is {status}"):
        build_report(run, data_dir)


def test_runs_table_lists_broken_runs_instead_of_failing(run_copy, capsys):
    run, _ = run_copy
    runs_dir = run.path.parent
    (runs_dir / "stray-folder").mkdir()
    broken = runs_dir / "broken-run"
    shutil.copytree(run.path, broken)
    (broken / "model.keras").unlink()
    half = runs_dir / "half-run"
    shutil.copytree(run.path, half)
    runs.Run(half).update_info(status="interrupted")
    assert main(["runs", "--runs-dir", str(runs_dir), "--json"]) == 0
    rows = {row["run"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[run.path.name]["status"] == "completed"
    assert rows[run.path.name]["test_accuracy"] == run.metrics["test"]["accuracy"]
    assert rows["stray-folder"]["status"] == "not a run"
    assert rows["broken-run"]["status"] == "broken (model.keras missing)"
    assert rows["half-run"]["status"] == "interrupted"
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["run", "recipe", "model"] and "not a run" in table


def test_compare_plots_and_puts_metrics_side_by_side(run_copy, tmp_path, capsys):
    run, _ = run_copy
    other = tmp_path / "other"
    shutil.copytree(run.path, other)
    output = tmp_path / "cmp.png"
    assert main(["runs", "--compare", str(run.path), str(other), "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert output.read_bytes().startswith(b"\x89PNG")
    assert "test_accuracy" in out and run.path.name in out and "other" in out
    assert main(["runs", "--compare", str(run.path)]) == 1
    assert "at least two runs" in capsys.readouterr().err


def test_evaluate_on_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 1
    assert "is not a provador run" in capsys.readouterr().err


def test_evaluate_prints_per_class_table(tiny_run, capsys):
    run, data_dir = tiny_run
    assert main(["evaluate", str(run.path), "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert "precision  recall" in out and "Most confused pairs" in out
    c = run.metrics["calibration"]
    assert f"temperature {c['temperature']:.3g} (fitted on the validation split" in out
    assert re.search(r"expected calibration error 0\.\d{4} before, 0\.\d{4} after", out)
