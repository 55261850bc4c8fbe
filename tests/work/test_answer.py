"""The answer (model → mirror average → temperature) is one function; these pin what it does."""

import numpy as np
import pytest

from provador.base._keras import keras
from provador.work.answer import Answer, predict_probabilities
from provador.work.calibration import apply_temperature


def _lopsided_model():
    """A small model whose answer depends on which side of the image is bright."""
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    weights = np.random.default_rng(0).normal(0, 0.01, (784, 10)).astype("float32")
    model.set_weights([weights, np.zeros(10, "float32")])
    return model


IMAGES = np.random.default_rng(1).integers(0, 256, (7, 28, 28)).astype(np.uint8)


def test_the_raw_answer_is_the_models_and_the_temperature_is_the_one_calibration_fits_with():
    model = _lopsided_model()
    raw = np.asarray(model(IMAGES.astype("float32")))
    np.testing.assert_allclose(predict_probabilities(model, IMAGES), raw, atol=1e-6)
    warm = Answer(temperature=2.5)
    answered = warm.probabilities(warm.compiled(model), IMAGES)
    np.testing.assert_allclose(answered, apply_temperature(raw, 2.5), atol=1e-5)
    assert (answered.argmax(1) == raw.argmax(1)).all() and answered.max() < raw.max()  # softer, same classes


def test_a_mirroring_answer_is_the_same_for_an_image_and_its_mirror_and_is_the_average_of_both():
    model = _lopsided_model()
    mirror = Answer(mirror=True)
    forward = mirror.compiled(model)
    left, right = mirror.probabilities(forward, IMAGES), mirror.probabilities(forward, IMAGES[:, :, ::-1])
    np.testing.assert_allclose(left, right, atol=1e-6)
    both = (np.asarray(model(IMAGES.astype("float32"))) + np.asarray(model(IMAGES[:, :, ::-1].astype("float32")))) / 2
    np.testing.assert_allclose(left, both, atol=1e-6)
    assert np.abs(np.asarray(model(IMAGES.astype("float32"))) - left).max() > 1e-4  # the mirror did change it


@pytest.mark.parametrize("chunk", [1, 3, 1024])
def test_answers_do_not_depend_on_how_the_images_are_batched(chunk):
    model, answer = _lopsided_model(), Answer(mirror=True, temperature=1.7)
    forward = answer.compiled(model)
    np.testing.assert_allclose(
        answer.probabilities(forward, IMAGES, chunk), answer.probabilities(forward, IMAGES), atol=1e-5
    )


def test_the_answer_traces_into_a_graph_of_unknown_batch_size_as_export_needs():
    model, answer = _lopsided_model(), Answer(mirror=True, temperature=2.0)
    pixels = keras.Input((28, 28), dtype="uint8")
    graph = keras.Model(pixels, answer(model, keras.ops.cast(pixels, "float32")))
    for batch in (IMAGES[:1], IMAGES):
        # The graph runs op by op and the compiled answer fused: float32 rounding differs by about
        # 1e-6 (1.07e-6 seen at JAX 0.4.30 on an AVX2 CPU); a wrong temperature or mirror is off by 1e-2.
        np.testing.assert_allclose(
            np.asarray(graph(batch)), answer.probabilities(answer.compiled(model), batch), atol=1e-5
        )


def test_evaluate_and_predict_give_the_same_accuracy(tiny_run):
    """`provador evaluate` and `provador predict` share the answer: the same classes for every test image."""
    from provador.core.datasets import load_dataset
    from provador.work.evaluation import evaluate
    from provador.work.inference import Predictor

    run, data_dir = tiny_run
    data = load_dataset("idx", data_dir, validation=50)
    predicted = Predictor(run).predict_probabilities(data.x_test).argmax(1)
    assert evaluate(run, data_dir)["accuracy"] == pytest.approx(float((predicted == data.y_test).mean()), abs=1e-9)
