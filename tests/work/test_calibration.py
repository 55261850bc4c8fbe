"""Temperature scaling and the expected calibration error."""

import numpy as np

from provador.work.calibration import apply_temperature, calibrate, ece_of, expected_calibration_error, fit_temperature


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def overconfident_answers(n=20000, sharpen=2.5, seed=0):
    """Labels drawn from softmax(z); the 'model' answers softmax(sharpen · z): surer than it is right."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 10))
    true = softmax(logits)
    labels = np.array([rng.choice(10, p=p) for p in true])
    return softmax(sharpen * logits), labels, true


def test_the_temperature_of_an_overconfident_model_is_found():
    answers, labels, true = overconfident_answers()
    temperature = fit_temperature(answers, labels)
    assert abs(temperature - 2.5) < 0.15
    np.testing.assert_allclose(apply_temperature(answers, 2.5), true, atol=1e-9)


def test_calibration_keeps_the_answers_and_lowers_the_error():
    answers, labels, _ = overconfident_answers(seed=1)
    result = calibrate(answers, labels)
    calibrated = apply_temperature(answers, result["temperature"])
    np.testing.assert_array_equal(calibrated.argmax(axis=1), answers.argmax(axis=1))
    assert result["validation_ece_before"] > 0.1 and result["validation_ece_after"] < 0.02
    assert abs(ece_of(calibrated, labels) - result["validation_ece_after"]) < 1e-5


def test_calibration_softens_but_never_sharpens():
    answers, labels, _ = overconfident_answers(sharpen=0.5, seed=2)  # an underconfident model
    result = calibrate(answers, labels)
    assert abs(result["fitted_temperature"] - 0.5) < 0.05 and result["temperature"] == 1.0
    assert result["validation_ece_after"] == result["validation_ece_before"]


def test_expected_calibration_error_by_hand():
    # Two bins: 0.95 sure and right half the time (gap 0.45); 0.55 sure and always right (gap 0.45).
    confidence = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([1, 0, 1, 1])
    assert abs(expected_calibration_error(confidence, correct) - 0.45) < 1e-12
    assert expected_calibration_error(np.array([0.8] * 5), np.array([1, 1, 1, 1, 0])) < 1e-12
