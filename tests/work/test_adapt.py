"""Your own photos: photo folders as data, `provador adapt`, and scores on photos (issue 21).

Generated photos: the tiny dataset's classes light horizontal bands; these photos light vertical
ones, which the tiny run has never seen (it answers them near chance) and an adapted run learns."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provador.base.errors import InputError, RecipeError, RunError
from provador.cli import main
from provador.core import photo_folders
from provador.core.datasets import FASHION_MNIST_CLASSES
from provador.core.photo_folders import read_photo_folders
from provador.records import runs
from provador.work.adaptation import adapt
from provador.work.photo_scores import score_photos
from tests.conftest import ctrl_c_after_epoch_two

DEV_PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "photos"


def vertical_band(label: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 20, size=(28, 28), dtype=np.uint8)
    image[4:24, 2 * label + 4 : 2 * label + 8] = 230
    return image


def write_photos(root: Path, classes=range(4), per_class: int = 12, seed: int = 0) -> Path:
    for label in classes:
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(vertical_band(label, seed * 1000 + label * 100 + i)).save(folder / f"{i}.png")
    return root


def photo(path: Path, value: int = 90, size=(60, 80)) -> Path:
    """A small photo of a dark garment on white."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((size[1], size[0], 3), 250, np.uint8)
    image[15:-15, 12:-12] = value
    Image.fromarray(image).save(path)
    return path


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(map(str, argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_folder_names_are_matched_forgivingly_and_bad_files_are_counted_not_fatal(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    photo(one / "T-shirt-top" / "a.jpg", 40)
    photo(two / "t-shirt_top" / "b.jpg", 60)
    photo(one / "Sneakers" / "c.jpg", 80)
    (one / "Sneakers" / "c-copy.jpg").write_bytes((one / "Sneakers" / "c.jpg").read_bytes())  # counted once
    photo(one / "Calça" / "d.jpg", 100)  # the Portuguese name of Trouser
    photo(one / "ambiguous-Tops" / "e.jpg", 120)  # no class: listed, left out
    (one / "Bag").mkdir()
    (one / "Bag" / "notes.txt").write_text("not a photo")
    (one / "Bag" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (one / "Bag" / "same-as-a.jpg").write_bytes((one / "T-shirt-top" / "a.jpg").read_bytes())  # two labels
    (one / "Bag" / "loop").symlink_to(one, target_is_directory=True)  # never entered
    (one / "Bag" / ".DS_Store").write_bytes(b"\0")

    found = read_photo_folders([one, two], FASHION_MNIST_CLASSES)
    # a.jpg is also under Bag: its class is unclear, so neither copy is learnt.
    assert found.per_class()["T-shirt/top"] == 1 and found.per_class()["Sneaker"] == 1
    assert found.per_class()["Trouser"] == 1 and found.per_class()["Bag"] == 0 and len(found) == 3
    assert found.left_out == [str(one / "ambiguous-Tops")]
    assert found.duplicates == [(str(one / "Sneakers" / "c.jpg"), str(one / "Sneakers" / "c-copy.jpg"))]
    reasons = dict(found.skipped)
    assert set(reasons) == {str(one / "Bag" / n) for n in ("notes.txt", "broken.jpg", "same-as-a.jpg")} | {
        str(one / "T-shirt-top" / "a.jpg")}  # fmt: skip
    assert "not an image file" in reasons[str(one / "Bag" / "notes.txt")]
    assert "damaged or truncated" in reasons[str(one / "Bag" / "broken.jpg")]
    assert (
        reasons[str(one / "Bag" / "same-as-a.jpg")] == "the same photo is also under T-shirt/top: its class is unclear"
    )
    assert found.pixels.shape == (3, 28, 28) and found.pixels.dtype == np.uint8
    # Exactly what `predict` shows the model for the same file.
    from provador.core import photos

    index = found.sources.index(str(one / "Calça" / "d.jpg"))
    assert np.array_equal(found.pixels[index], photos.prepare(one / "Calça" / "d.jpg").pixels)


def test_prepared_photos_are_cached_by_content_and_a_damaged_entry_is_made_again(tmp_path):
    root = write_photos(tmp_path / "photos", per_class=3)
    first = read_photo_folders([root], [str(k) for k in range(10)])
    assert first.from_cache == 0 and len(first) == 12
    again = read_photo_folders([root], [str(k) for k in range(10)])
    assert again.from_cache == 12 and np.array_equal(again.pixels, first.pixels)
    assert again.content_sha256() == first.content_sha256()
    entries = sorted(p for p in photo_folders.cache_dir().rglob("*") if p.is_file())
    assert len(entries) == 12
    entries[0].write_bytes(b"short")
    third = read_photo_folders([root], [str(k) for k in range(10)])
    assert third.from_cache == 11 and np.array_equal(third.pixels, first.pixels)
    # Renaming or moving a photo changes nothing; relabelling it changes the set's hash.
    (root / "0" / "0.png").rename(root / "0" / "renamed.png")
    assert read_photo_folders([root], [str(k) for k in range(10)]).content_sha256() == first.content_sha256()
    (root / "0" / "renamed.png").rename(root / "1" / "moved.png")
    assert read_photo_folders([root], [str(k) for k in range(10)]).content_sha256() != first.content_sha256()


@pytest.mark.parametrize(
    "layout, message",
    [
        ("missing", "does not exist or is not a folder"),
        ("empty", "has no class subfolders"),
        ("loose", "Its photos lie loose in it"),
        ("no-class", "No photos of a known class"),
    ],
)
def test_a_folder_that_is_no_photo_folder_is_refused_saying_what_is_expected(tmp_path, layout, message):
    root = tmp_path / "photos"
    if layout != "missing":
        root.mkdir()
    if layout == "loose":
        photo(root / "shirt.jpg")
    if layout == "no-class":
        photo(root / "holiday" / "shirt.jpg")
    with pytest.raises(InputError, match=message) as raised:
        read_photo_folders([root], FASHION_MNIST_CLASSES)
    assert "Sneaker" in str(raised.value) or layout == "missing"


def test_data_info_shows_the_photos_class_by_class(capsys, tmp_path):
    root = tmp_path / "photos"
    for i in range(3):
        photo(root / "T-shirt-top" / f"{i}.jpg", 30 + 10 * i)
    photo(root / "bags" / "a.jpg", 200)
    photo(root / "holiday" / "x.jpg")
    (root / "bags" / "readme.md").write_text("hi")
    code, out, err = run_cli(capsys, "data", "info", "--photos", root)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"Photos: 4 in 2 classes from {root}"
    assert "  T-shirt/top      3" in lines and "  Bag              1" in lines and "  Sneaker          0" in lines
    assert f"Left out {root / 'holiday'}: its name is no class" in out
    assert f"Skipped {root / 'bags' / 'readme.md'}: not an image file" in out and "1 files skipped" in out
    code, out, _ = run_cli(capsys, "data", "info", "--photos", root, "--json")
    summary = json.loads(out)
    assert summary["photos"] == 4 and summary["per_class"]["Bag"] == 1 and summary["from_cache"] == 4
    code, out, _ = run_cli(capsys, "--lang", "pt", "data", "info", "--photos", root)
    assert "  Bolsa" in out and "Fotos: 4" in out


@pytest.fixture(scope="module")
def adapted(tiny_run, tmp_path_factory):
    """The tiny run adapted to vertical-band photos of four classes, and photos it never saw."""
    parent, data_dir = tiny_run
    root = tmp_path_factory.mktemp("adapt")
    teach = write_photos(root / "teach", per_class=12, seed=1)
    unseen = write_photos(root / "unseen", per_class=6, seed=2)
    run = adapt(parent, [teach], data_dir=data_dir, runs_dir=root / "runs", quiet=True,
                overrides={"training.epochs": 6, "training.learning_rate": 0.003, "adapt.fashion_images": 200})  # fmt: skip
    return parent, run, teach, unseen, data_dir


def test_an_adapted_run_learns_the_photos_and_records_where_it_came_from(adapted):
    parent, run, teach, unseen, _ = adapted
    assert run.status == "completed" and run.name.startswith(f"{parent.recipe.name}-adapted-")
    info = json.loads((run.path / "run.json").read_text())
    assert info["parent"] == str(parent.path.resolve())
    assert info["photos"]["photos"] == 48 and info["photos"]["valid"] == 8 and info["photos"]["train"] == 40
    recipe = run.recipe
    assert recipe.adapt.parent_model_sha256 == parent.model_digest()
    assert recipe.adapt.photos == [str(teach.resolve())]
    assert (
        recipe.adapt.photos_sha256
        == info["photos"]["sha256"]
        == read_photo_folders([teach], run.class_names).content_sha256()
    )
    assert recipe.model == parent.recipe.model  # the parent's model, its weights as the start
    before, after = score_photos(parent, [unseen]), score_photos(run, [unseen])
    assert before["photos"] == after["photos"] == 24
    assert before["accuracy"] < 0.5 and after["accuracy"] >= 0.9, (before["accuracy"], after["accuracy"])
    # It keeps what the dataset taught: the test set (horizontal bands) stays learnt.
    assert run.metrics["test"]["accuracy"] >= parent.metrics["test"]["accuracy"] - 0.1


def test_evaluate_photos_reports_accuracy_per_class_confusion_and_sure_mistakes(adapted, capsys):
    parent, run, _, unseen, _ = adapted
    code, out, err = run_cli(capsys, "evaluate", parent.path, "--photos", unseen, "--json")
    assert code == 0, err
    result = json.loads(out)
    right = sum(row["right"] for row in result["per_class"].values())
    assert result["accuracy"] == pytest.approx(right / 24)
    assert np.array(result["confusion_matrix"]).sum() == 24 and np.trace(result["confusion_matrix"]) == right
    assert len(result["mistakes"]) == 24 - right
    assert all(m["true"] != m["predicted"] for m in result["mistakes"])
    probabilities = [m["probability"] for m in result["mistakes"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert result["confident_wrong"] == pytest.approx(sum(p >= 0.9 for p in probabilities) / 24)
    code, out, err = run_cli(capsys, "evaluate", run.path, "--photos", unseen)
    assert code == 0, err
    assert out.startswith("Photos: 24; accuracy ") and "Confusion matrix" in out


def test_an_adapted_run_works_as_any_run(adapted, capsys, tmp_path):
    parent, run, _, unseen, data_dir = adapted
    code, out, err = run_cli(capsys, "predict", run.path, unseen / "2", "--data-dir", data_dir)
    assert code == 0, err and out.count("\n    top-3:") == 6
    code, out, err = run_cli(capsys, "runs", "--runs-dir", run.path.parent)
    assert code == 0 and run.name in out and "completed" in out
    code, _, err = run_cli(capsys, "runs", "--compare", parent.path, run.path, "--output", tmp_path / "c.png")
    assert code == 0, err and (tmp_path / "c.png").stat().st_size > 1000
    code, _, err = run_cli(capsys, "evaluate", run.path, "--data-dir", data_dir)
    assert code == 0, err


def test_an_interrupted_adaptation_resumes_and_refuses_changed_photos(tiny_run, tmp_path, monkeypatch):
    parent, data_dir = tiny_run
    teach = write_photos(tmp_path / "teach", per_class=4)
    ctrl_c_after_epoch_two(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        adapt(parent, [teach], data_dir=data_dir, runs_dir=tmp_path / "runs", quiet=True,
              overrides={"training.epochs": 3, "adapt.fashion_images": 100})  # fmt: skip
    monkeypatch.undo()
    (stopped,) = (tmp_path / "runs").iterdir()
    assert runs.Run(stopped).status == "interrupted"
    moved = teach / "0" / "0.png"
    moved.rename(teach / "1" / "moved.png")  # relabelled since: not what the run began to learn
    with pytest.raises(RunError, match="not the ones this run started with"):
        adapt(resume=stopped, data_dir=data_dir, quiet=True)
    assert runs.Run(stopped).status == "interrupted"  # left as it was
    (teach / "1" / "moved.png").rename(moved)
    resumed = adapt(resume=stopped, data_dir=data_dir, quiet=True)
    assert resumed.status == "completed" and len(resumed.history()["val_accuracy"]) == 3


def test_bad_adaptations_are_refused_before_anything_is_written(tiny_run, tiny_recipe, tmp_path, capsys):
    parent, data_dir = tiny_run
    runs_dir = tmp_path / "runs"
    one_class = write_photos(tmp_path / "one", classes=(2,), per_class=5)
    with pytest.raises(InputError, match="one class only"):
        adapt(parent, [one_class], data_dir=data_dir, runs_dir=runs_dir, quiet=True)
    too_few = write_photos(tmp_path / "few", classes=(0, 1), per_class=1)
    with pytest.raises(InputError, match=r"Too few photos to hold some out for validation: 0 \(1\), 1 \(1\)"):
        adapt(parent, [too_few], data_dir=data_dir, runs_dir=runs_dir, quiet=True)
    others = tmp_path / "fashion"
    photo(others / "Sneaker" / "a.jpg")
    photo(others / "Bag" / "b.jpg")
    with pytest.raises(InputError, match=r"expected subfolders named after the classes \(0, 1, 2"):
        adapt(parent, [others], data_dir=data_dir, runs_dir=runs_dir, quiet=True)
    good = write_photos(tmp_path / "good", per_class=3)
    with pytest.raises(RecipeError, match="keeps its parent's model"):
        adapt(parent, [good], overrides={"model.hidden": [8]}, data_dir=data_dir, runs_dir=runs_dir, quiet=True)
    with pytest.raises(RecipeError, match="adapt.photos_sha256 cannot be set"):
        adapt(parent, [good], overrides={"adapt.photos_sha256": "x"}, data_dir=data_dir, runs_dir=runs_dir, quiet=True)
    unfinished = runs.new_run(tmp_path / "other", tiny_recipe, [str(k) for k in range(10)], {})
    with pytest.raises(RunError, match="only a completed run can be adapted"):
        adapt(unfinished, [good], data_dir=data_dir, runs_dir=runs_dir, quiet=True)
    assert not runs_dir.exists()
    code, _, err = run_cli(capsys, "adapt", parent.path)
    assert code == 1 and "at least one photo folder" in err
    code, _, err = run_cli(capsys, "adapt", parent.path, "--photos", tmp_path / "nowhere", "--data-dir", data_dir)
    assert code == 1 and "does not exist or is not a folder" in err


@pytest.mark.skipif(not DEV_PHOTOS.is_dir(), reason="the development photos (../shared/photos) are not here")
def test_the_development_photos_read_as_photo_folders():
    """The 445 real photos: every class folder found, footwear-* and ambiguous-* left out, none skipped."""
    folders = [DEV_PHOTOS / source for source in ("catalog-small", "catalog-large", "wild")]
    found = read_photo_folders(folders, FASHION_MNIST_CLASSES)
    expected: dict[str, int] = {}
    for line in (DEV_PHOTOS / "labels.csv").read_text().splitlines()[1:]:
        label = line.split(",")[1]  # the folder's name: a class, footwear-* or ambiguous-*
        if not label.startswith(("footwear-", "ambiguous-")):
            label = label.replace("T-shirt-top", "T-shirt/top")
            expected[label] = expected.get(label, 0) + 1
    assert {k: v for k, v in found.per_class().items() if v} == expected
    assert not found.skipped and len(found.left_out) == 4
    assert all(os.path.basename(p).startswith(("ambiguous-", "footwear-")) for p in found.left_out)
    assert read_photo_folders(folders, FASHION_MNIST_CLASSES).from_cache == len(found)


def test_report_with_photos_adds_their_scores_and_a_gallery_of_the_photos_it_got_wrong(adapted, capsys):
    _, run, _, unseen, data_dir = adapted  # the adapted run: the shared tiny run stays as it is
    code, out, err = run_cli(capsys, "report", run.path, "--photos", unseen, "--data-dir", data_dir)
    assert code == 0, err
    scores = run.metrics["photos"]
    assert scores["photos"] == 24 and scores["folders"] == [str(unseen)]
    assert scores == {**score_photos(run, [unseen]), "folders": [str(unseen)]}
    page = (run.path / "report.html").read_text()
    assert "<h2>Your photos</h2>" in page and f"Photos 24 from <code>{unseen}</code>" in page
    gallery = Image.open(run.path / "photo-mistakes.png")
    assert gallery.width > 500 and np.asarray(gallery.convert("L")).std() > 10
    assert 'alt="Photos answered wrongly"' in page


def test_a_folder_of_photo_folders_is_read_and_label_names_a_folders_class(tmp_path, capsys):
    """`--photos ../shared/photos` (SOURCE/CLASS/photo) reads each source; `--label` gives a folder
    whose name is no class its class (the development set's footwear-* folders)."""
    root = tmp_path / "photos"
    photo(root / "shop" / "Bag" / "a.jpg", 30)
    photo(root / "home" / "T-shirt-top" / "b.jpg", 60)
    photo(root / "home" / "footwear-shoes" / "c.jpg", 90)
    found = read_photo_folders([root], FASHION_MNIST_CLASSES)
    assert len(found) == 2 and found.left_out == [str(root / "home" / "footwear-shoes")]
    found = read_photo_folders([root], FASHION_MNIST_CLASSES, labels={"footwear-shoes": "sneakers"})
    assert found.per_class()["Sneaker"] == 1 and len(found) == 3 and not found.left_out
    code, out, err = run_cli(capsys, "data", "info", "--photos", root, "--label", "footwear-shoes=Tênis")
    assert code == 0 and "  Sneaker          1" in out
    code, _, err = run_cli(capsys, "data", "info", "--photos", root, "--label", "footwear-shoes=Boots")
    assert code == 1 and "--label footwear-shoes=Boots: Boots is not a class. Expected one of T-shirt/top" in err
    code, _, err = run_cli(capsys, "data", "info", "--photos", root, "--label", "footwear-shoes")
    assert code == 1 and "Expected --label FOLDER=CLASS" in err
