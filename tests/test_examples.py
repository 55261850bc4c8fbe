"""The tutorial notebooks run top to bottom (one epoch on a slice), so they never rot."""

from pathlib import Path

import nbclient
import nbformat
import numpy as np
import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"

pytestmark = pytest.mark.slow


def product_photos(root: Path, real_data: Path, per_class: int = 10) -> Path:
    """A folder of "photos" for the last section: test images of three classes, enlarged, dark on white."""
    from PIL import Image

    from provador.core.datasets import load_dataset

    data = load_dataset(data_dir=real_data)
    for label, folder in ((0, "T-shirt-top"), (7, "Sneakers"), (8, "Bolsa")):  # the names may be spelt any way
        (root / folder).mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(data.y_test == label)[:per_class]):
            Image.fromarray(255 - data.x_test[index]).resize((112, 112)).convert("RGB").save(root / folder / f"{i}.jpg")
    return root


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
                "30 fotos: {'Camiseta/top': 10, 'Tênis': 10, 'Bolsa': 10}",
                "adaptado, acurácia no teste do Fashion-MNIST: ",
                "por quê: Bota (saliency)",
            ],
        ),
        (
            "intro-provador-en.ipynb",
            [
                "['Ankle boot', 'Pullover', 'Trouser'",
                "Test accuracy: 0.",
                "Epoch 1/1 - ",
                "val_accuracy: 0.",
                "30 photos: {'T-shirt/top': 10, 'Sneaker': 10, 'Bag': 10}",
                "adapted, Fashion-MNIST test accuracy: 0.",
                "why: Ankle boot (saliency)",
            ],
        ),
    ],
)
def test_notebook_runs_top_to_bottom(name, words, real_data, tmp_path, monkeypatch):
    monkeypatch.setenv("PROVADOR_EXAMPLE_EPOCHS", "1")
    monkeypatch.setenv("PROVADOR_EXAMPLE_MAX_TRAIN", "5000")
    monkeypatch.setenv("PROVADOR_EXAMPLE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("PROVADOR_EXAMPLE_PHOTOS", str(product_photos(tmp_path / "photos", real_data)))
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
    assert sum(pictures[line] for line in pictures if "explain(" in line) == 2  # why: a test image and a photo


def test_importing_provador_leaves_matplotlibs_backend_alone():
    """A notebook's backend is the user's: provador draws on Figure objects and never switches it."""
    import subprocess
    import sys

    code = (
        "import matplotlib; before = matplotlib.get_backend(); "
        "import provador, provador.show.plots, provador.show.report, provador.show.compare; "
        "print(before, matplotlib.get_backend())"
    )
    env = {**__import__("os").environ, "MPLBACKEND": "svg"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["svg", "svg"]
