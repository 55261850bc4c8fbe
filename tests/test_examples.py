"""The tutorial notebooks run top to bottom (one epoch on a slice), so they never rot."""

from pathlib import Path

import nbclient
import nbformat
import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("name", "words"),
    [
        # The Portuguese notebook speaks Portuguese: provador's own lines, the classes, the last cell.
        (
            "intro-provador-pt.ipynb",
            [
                "['Bota', 'Suéter', 'Calça'",
                "Acurácia no teste: 0,",
                "3 mais prováveis:",
                "Época 1/1 - ",
                "acurácia de validação: 0,",
            ],
        ),
        (
            "intro-provador-en.ipynb",
            ["['Ankle boot', 'Pullover', 'Trouser'", "Test accuracy: 0.", "Epoch 1/1 - ", "val_accuracy: 0."],
        ),
    ],
)
def test_notebook_runs_top_to_bottom(name, words, real_data, tmp_path, monkeypatch):
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
    for expected in words:
        assert expected in text
    assert (tmp_path / "runs" / "latest" / "report.html").is_file()
    # The pictures show in the notebook: the notebook's own learning-curve plot (plt.show()) and
    # the run's samples and confusion matrix (run.show()).
    pictures = {
        cell.source.splitlines()[-1]: sum("image/png" in output.get("data", {}) for output in cell.outputs)
        for cell in notebook.cells if cell.cell_type == "code"
    }  # fmt: skip
    assert pictures["plt.show()"] == 1
    assert pictures['run.show("samples", "confusion")'] == 2


def test_importing_provador_leaves_matplotlibs_backend_alone():
    """A notebook's backend is the user's: provador draws on Figure objects and never switches it."""
    import subprocess
    import sys

    code = (
        "import matplotlib; before = matplotlib.get_backend(); "
        "import provador, provador.plots, provador.report, provador.compare; "
        "print(before, matplotlib.get_backend())"
    )
    env = {**__import__("os").environ, "MPLBACKEND": "svg"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["svg", "svg"]
