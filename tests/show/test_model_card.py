"""model-card.md: written with every report, readable by the Hugging Face Hub (its YAML front
matter), true to the run's files, in the reader's language, and shown in report.html."""

from __future__ import annotations

import yaml

from provador.cli import main
from provador.show.model_card import CARD_FILE


def front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_every_run_has_a_model_card_the_hub_can_read(tiny_run):
    run, _ = tiny_run
    text = (run.path / CARD_FILE).read_text()
    meta = front_matter(text)
    result = meta["model-index"][0]["results"][0]
    assert meta["model-index"][0]["name"] == run.name and meta["library_name"] == "keras"
    assert result["task"]["type"] == "image-classification" and result["dataset"]["split"] == "test"
    values = {m["type"]: m["value"] for m in result["metrics"]}
    test = run.metrics["test"]
    assert values == {"accuracy": round(test["accuracy"], 4), "f1": round(test["macro_f1"], 4)}
    assert meta["provador"]["data_sha256"] == run.info["data"]["sha256"]  # the data it learned, by content
    assert meta["provador"]["recipe"] == run.recipe.name and meta["provador"]["backend"] == "jax"
    assert meta["provador"]["calibration_temperature"] == run.metrics["calibration"]["temperature"]
    for heading in ("## Results", "## Training data", "## Intended use", "## Limitations", "## How to use"):
        assert heading in text
    assert "28×28 greyscale" in text and "shoes from above" in text
    assert f"provador predict {run.path} photo.jpg" in text
    assert "<h2>Model card</h2>" in (run.path / "report.html").read_text()


def test_the_model_card_follows_the_readers_language(run_copy, monkeypatch):
    run, data_dir = run_copy
    monkeypatch.setenv("PROVADOR_LANG", "pt")
    assert main(["report", str(run.path), "--data-dir", str(data_dir)]) == 0
    text = (run.path / CARD_FILE).read_text()
    assert "## Limitações" in text and "## Uso pretendido" in text
    assert front_matter(text)["model-index"][0]["results"][0]["metrics"][0]["type"] == "accuracy"  # keys stay
