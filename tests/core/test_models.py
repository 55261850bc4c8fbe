import numpy as np
import pytest

from provador.base.errors import ModelError
from provador.core.models import build_model, list_models


def test_mlp_is_the_notebooks_model():
    model = build_model("mlp")
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert [layer.name for layer in dense] == ["dense", "dense_1", "dense_2"]
    assert [layer.count_params() for layer in dense] == [235_500, 30_100, 1_010]
    assert model.count_params() == 266_610
    assert model.get_layer("flatten").output.shape[1] == 784
    weights, biases = model.get_layer("dense").get_weights()
    assert weights.shape == (784, 300) and not biases.any()  # the notebook's get_weights(): biases start at 0


def test_mlp_scales_raw_pixels_itself():
    model = build_model("mlp")
    images = np.random.default_rng(0).integers(0, 256, (4, 28, 28)).astype(np.uint8)
    scaled = model.get_layer("rescaling")(images.astype("float32"))
    np.testing.assert_allclose(np.asarray(scaled), images / 255, rtol=1e-6)


def test_mlp_widths_activation_and_dropout_are_configurable():
    model = build_model("mlp", hidden=[64], activation="tanh", dropout=0.2)
    assert model.count_params() == 784 * 64 + 64 + 64 * 10 + 10
    assert any(type(layer).__name__ == "Dropout" for layer in model.layers)


def test_unknown_architecture_lists_the_known_ones():
    with pytest.raises(ModelError, match="one of cnn, cnn-bn, mlp"):
        build_model("vgg")
    assert "mlp" in list_models()


def test_bad_parameters_name_the_key():
    with pytest.raises(ModelError, match="model.dropout"):
        build_model("mlp", dropout=1.5)
    with pytest.raises(ModelError, match="Unknown recipe key `model.width`"):
        build_model("mlp", width=3)
