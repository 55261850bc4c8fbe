"""The tutorial notebooks run top to bottom (one epoch on a slice), so they never rot."""

from pathlib import Path

import nbclient
import nbformat
import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["intro-provador-pt.ipynb", "intro-provador-en.ipynb"])
def test_notebook_runs_top_to_bottom(name, real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("PROVADOR_EXAMPLE_EPOCHS", "1")
    monkeypatch.setenv("PROVADOR_EXAMPLE_MAX_TRAIN", "5000")
    monkeypatch.setenv("PROVADOR_EXAMPLE_RUNS_DIR", str(tmp_path / "runs"))
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    text = "\n".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )  # fmt: skip
    assert "(60000, 28, 28) uint8" in text
    assert "266,610" in text  # model.summary()
    assert "'dense'" in text
    assert "val_accuracy" in text  # the per-epoch progress line
    assert "['Ankle boot', 'Pullover', 'Trouser'" in text  # the notebook's last cell
    assert (tmp_path / "runs" / "latest" / "report.html").is_file()
