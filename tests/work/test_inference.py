import numpy as np
import pytest
from PIL import Image

from provador.base.errors import InputError
from provador.core.datasets import load_dataset
from provador.work.inference import Predictor, parse_indices


def test_predictor_answers_like_the_model(tiny_run):
    run, data_dir = tiny_run
    data = load_dataset("idx", data_dir, validation=50)
    predictor = Predictor(run)
    predictions = predictor.predict(data.x_test[:10], labels=data.y_test[:10])
    probabilities = predictor.predict_probabilities(data.x_test[:10])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    for p, row in zip(predictions, probabilities):
        assert p.class_index == int(np.argmax(row)) and p.label == predictor.class_names_[p.class_index]
        assert len(p.top) == 3 and p.top[0] == (p.label, p.probability)
        assert p.top[0][1] >= p.top[1][1] >= p.top[2][1]
    correct = sum(p.label == p.true_label for p in predictions)
    assert correct >= 7  # of 10; chance is 1
    assert predictor.predict(data.x_test[0])[0].label == predictions[0].label  # a single (28, 28) image


def test_image_files_of_the_dataset_size_are_read(tiny_run, tmp_path):
    run, data_dir = tiny_run
    data = load_dataset("idx", data_dir, validation=50)
    path = tmp_path / "x.png"
    Image.fromarray(data.x_test[3]).save(path)
    predictor = Predictor(run)
    (from_file,) = predictor.predict_files([path])
    assert from_file.label == predictor.predict(data.x_test[3])[0].label
    assert from_file.source == str(path)


def test_photos_of_any_size_go_through_the_pipeline(tiny_run, tmp_path):
    run, data_dir = tiny_run
    data = load_dataset("idx", data_dir, validation=50)
    # The dataset image as a "product photo": dark on white, 10× larger, off-centre.
    photo = Image.new("RGB", (400, 330), "white")
    photo.paste(Image.fromarray(255 - data.x_test[7]).resize((280, 280)).convert("RGB"), (100, 20))
    path = tmp_path / "photo.png"
    photo.save(path)
    predictor = Predictor(run)
    (answer,) = predictor.predict_files([path], show_input=tmp_path / "seen")
    assert answer.label == predictor.predict(data.x_test[7])[0].label
    with Image.open(tmp_path / "seen" / "photo.input.png") as seen:
        assert seen.size == (28, 28) and seen.mode == "L"


def test_not_an_image_is_explained(tiny_run, tmp_path):
    run, _ = tiny_run
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(InputError, match="not an image Pillow can read"):
        Predictor(run).predict_files([path])


def test_low_confidence_is_flagged(tiny_run):
    predictor = Predictor(tiny_run[0])
    unsure = predictor.prediction_from(np.array([0.4, 0.35, 0.25] + [0.0] * 7), "a")
    sure = predictor.prediction_from(np.array([0.05, 0.9, 0.05] + [0.0] * 7), "b")
    assert unsure.low_confidence and unsure.label == predictor.class_names_[0]
    assert not sure.low_confidence and sure.top[0] == (predictor.class_names_[1], 0.9)


def test_wrong_array_shape_is_explained(tiny_run):
    with pytest.raises(InputError, match=r"Expected images of shape \(N, 28, 28\).*\(2, 32, 32\)"):
        Predictor(tiny_run[0]).predict(np.zeros((2, 32, 32), np.uint8))


@pytest.mark.parametrize(
    "spec, expected", [("0:5", [0, 1, 2, 3, 4]), ("7", [7]), ("1,4,9", [1, 4, 9]), ("98:", [98, 99])]
)
def test_parse_indices(spec, expected):
    assert parse_indices(spec, 100) == expected


@pytest.mark.parametrize(
    "spec, message", [("100", "out of range"), ("5:2", "Expected test indices"), ("x", "Expected")]
)
def test_bad_indices(spec, message):
    with pytest.raises(InputError, match=message):
        parse_indices(spec, 100)


def test_probabilities_are_calibrated_with_the_runs_temperature(tiny_run, tmp_path):
    import shutil

    from provador.base import _files
    from provador.work.calibration import apply_temperature

    run, data_dir = tiny_run
    temperature = run.metrics["calibration"]["temperature"]
    assert 0.25 <= temperature <= 8 and run.metrics["calibration"]["fitted_on"] == "validation"
    copy = tmp_path / "copy"
    shutil.copytree(run.path, copy)
    metrics = dict(run.metrics, calibration={"temperature": 3.0})
    _files.write_json(copy / "metrics.json", metrics)
    data = load_dataset("idx", data_dir, validation=50)
    raw = np.asarray(Predictor(copy).model_(data.x_test[:20].astype("float32")))
    np.testing.assert_allclose(
        Predictor(copy).predict_probabilities(data.x_test[:20]), apply_temperature(raw, 3.0), atol=1e-5
    )


def test_a_model_trained_with_mirroring_answers_the_same_for_a_mirrored_image(tiny_dir, tiny_recipe, tmp_path):
    from provador.work.training import train

    recipe = tiny_recipe.with_overrides({"model.augmentation": "photo", "training.epochs": 1})
    predictor = Predictor(train(recipe, data_dir=tiny_dir, runs_dir=tmp_path, quiet=True))
    assert predictor.answer.mirror
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    np.testing.assert_allclose(
        predictor.predict_probabilities(images), predictor.predict_probabilities(images[:, :, ::-1]), atol=1e-6
    )


def test_a_photo_with_no_garment_is_unsure_and_says_why(tiny_run, tmp_path):
    run, _ = tiny_run
    path = tmp_path / "wall.jpg"
    Image.new("RGB", (300, 200), (180, 170, 160)).save(path)
    (answer,) = Predictor(run).predict_files([path])
    assert answer.low_confidence and "no garment" in answer.low_confidence_reason
    reason = Predictor(run).prediction_from(np.array([0.4, 0.35, 0.25] + [0.0] * 7), "a").low_confidence_reason
    assert reason == "the top probability is under 50%"


def test_folders_are_predicted_recursively_and_unreadable_files_skipped(tiny_run, tmp_path):
    run, data_dir = tiny_run
    data = load_dataset("idx", data_dir, validation=50)
    for folder, index in (("a", 1), ("b/deeper", 2)):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        Image.fromarray(data.x_test[index]).save(tmp_path / "photos" / folder / "same-name.png")
    (tmp_path / "photos" / "a" / "broken.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
    (tmp_path / "photos" / "a" / "notes.txt").write_text("not an image, not looked at")
    errors = []
    answers = Predictor(run).predict_files([tmp_path / "photos"], show_input=tmp_path / "seen", errors=errors)
    assert [a.source for a in answers] == [
        str(tmp_path / "photos" / "a" / "same-name.png"), str(tmp_path / "photos" / "b" / "deeper" / "same-name.png")
    ]  # fmt: skip
    assert len(errors) == 1 and errors[0][0].endswith("broken.jpg") and "not an image" in errors[0][1]
    seen = sorted(p.relative_to(tmp_path / "seen").as_posix() for p in (tmp_path / "seen").rglob("*.png"))
    assert seen == ["a/same-name.input.png", "b/deeper/same-name.input.png"]
