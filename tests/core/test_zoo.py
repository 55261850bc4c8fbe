"""The model zoo beyond the notebook's MLP: CNNs, the fast pooling layer, augmentation, recipes."""

import numpy as np
import pytest

from provador.base._keras import keras
from provador.base.errors import ModelError
from provador.core.models import build_model, list_models
from provador.core.models._layers import BatchNorm, MaxPool2x2, PhotoLook, RandomShift, augmentation_layers
from provador.core.recipes import list_recipes, load_recipe
from provador.work.inference import Predictor
from provador.work.training import train


def test_registry_lists_the_zoo():
    assert {"mlp", "cnn", "cnn-bn"} <= set(list_models())


@pytest.mark.parametrize("name", ["cnn", "cnn-bn"])
def test_cnns_take_raw_uint8_images(name):
    model = build_model(name)
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype("float32")
    probabilities = np.asarray(model(images, training=False))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert model.get_layer("rescaling").scale == pytest.approx(1 / 255)  # raw pixels in, scaled inside


def test_cnn_bn_has_one_convolution_at_full_resolution_by_default():
    names = {layer.name for layer in build_model("cnn-bn", filters=[4, 8, 8]).layers}
    assert {"conv0_0", "conv1_0", "conv1_1", "conv2_1"} <= names and "conv0_1" not in names
    names = {layer.name for layer in build_model("cnn-bn", filters=[4, 8], convs=[2, 3]).layers}
    assert {"conv0_1", "conv1_2"} <= names and "conv1_3" not in names
    with pytest.raises(ModelError, match=r"model.convs has 3 entries but model.filters has 2"):
        build_model("cnn-bn", filters=[4, 8], convs=[1, 2, 2])
    with pytest.raises(ModelError, match=r"model.convs.0`: input should be greater than or equal to 1"):
        build_model("cnn-bn", filters=[4, 8], convs=[0, 2])
    with pytest.raises(ModelError, match=r"model.filters.1`: input should be greater than or equal to 1"):
        build_model("cnn", filters=[4, 0])
    with pytest.raises(ModelError, match=r"model.filters.1`: input should be less than or equal to 1024"):
        build_model("cnn", filters=[4, 100_000_000])


@pytest.mark.parametrize(
    "name, params",
    [("mlp", {}), ("mlp", {"hidden": [50, 20, 7], "dropout": 0.2}), ("cnn", {}), ("cnn-bn", {}),
     ("cnn", {"filters": [8, 16, 32, 64], "batch_norm": True}), ("cnn-bn", {"convs": [2, 1, 3], "dense": 64})],
)  # fmt: skip
def test_a_models_size_is_known_before_it_is_built(name, params):
    from provador.core.models import model_size

    # The memory check before training counts the weights without building the model.
    assert model_size(name, (28, 28), 10, **params).parameters == build_model(name, **params).count_params()


def test_fast_pooling_equals_keras_max_pooling():
    x = np.random.default_rng(1).normal(size=(2, 7, 9, 3)).astype("float32")
    ours = np.asarray(MaxPool2x2()(x))
    stock = np.asarray(keras.layers.MaxPooling2D(2)(x))
    np.testing.assert_allclose(ours, stock)


def test_pooling_before_the_activation_is_the_same_function_without_batch_norm():
    # The CNN blocks pool before ReLU (4× less element-wise work); without batch norm that must
    # be exactly the textbook conv → ReLU → pool.
    model = build_model("cnn", filters=[4, 8], batch_norm=False, dropout=0.0)
    names = [layer.name for layer in model.layers]
    assert names.index("pool0") < names.index("relu0_0") < names.index("conv1_0")
    images = np.random.default_rng(3).integers(0, 256, (5, 28, 28)).astype("float32")
    x = images[..., None] / 255
    for index in range(2):
        x = keras.layers.ReLU()(model.get_layer(f"conv{index}_0")(x))
        x = keras.layers.MaxPooling2D(2)(x)
    textbook = x
    for name in ("dense", "classifier"):
        textbook = model.get_layer(name)(keras.layers.Flatten()(textbook))
    np.testing.assert_allclose(np.asarray(model(images)), np.asarray(textbook), atol=1e-6)


def test_fast_batch_norm_equals_keras_batch_normalization():
    rng = np.random.default_rng(2)
    x = (rng.normal(size=(16, 5, 5, 4)) * 3 + 1).astype("float32")
    ours, stock = BatchNorm(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    for layer in (ours, stock):
        layer.build(x.shape)
    ours.gamma.assign(rng.normal(size=4)), ours.beta.assign(rng.normal(size=4))
    stock.gamma.assign(ours.gamma.numpy()), stock.beta.assign(ours.beta.numpy())
    # Training: normalised by the batch's statistics, moving averages updated alike.
    np.testing.assert_allclose(ours(x, training=True), stock(x, training=True), atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean.numpy(), stock.moving_mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(ours.moving_variance.numpy(), stock.moving_variance.numpy(), rtol=1e-3)
    assert np.abs(ours.moving_mean.numpy()).max() > 0.05  # it moved towards the batch mean of ~1
    # Inference: the moving averages, not the batch.
    np.testing.assert_allclose(ours(x[:2], training=False), stock(x[:2], training=False), atol=1e-4)


def test_augmentation_is_a_no_op_at_inference():
    x = np.random.default_rng(2).random((4, 28, 28)).astype("float32")
    y = x
    for layer in augmentation_layers("flip-shift-erase", (28, 28)):
        y = layer(y, training=False)
    np.testing.assert_allclose(np.asarray(y), x)
    flipped = x
    for layer in augmentation_layers("flip", (28, 28), seed=3):
        flipped = layer(flipped, training=True)
    assert np.asarray(flipped).shape == x.shape


def test_photo_look_mirrors_rescales_and_relights_only_in_training():
    """Half the images are mirrored; each gets its own scale, blur and light; values stay in 0-1."""
    images = np.zeros((400, 28, 28), "float32")
    images[:, 4:24, 2:12] = 0.8  # a garment on the left half
    layer = PhotoLook(seed=3)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    out = np.asarray(layer(images, training=True))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    mirrored = out[:, :, 14:].sum(axis=(1, 2)) > out[:, :, :14].sum(axis=(1, 2))
    assert 150 < mirrored.sum() < 250
    brightness = out[:, 10:18, :].max(axis=(1, 2))
    assert np.ptp(brightness) > 0.2  # relit: not one brightness for all
    sizes = (out > 0.3).sum(axis=(1, 2))
    assert len(set(sizes.tolist())) > 20  # rescaled: each image its own size
    # Blur and noise: a hard edge is no longer a single step.
    assert (np.abs(np.diff(out[:, 14, :], axis=1)) > 0.05).sum(axis=1).mean() > 2


def shifted(image: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """The image moved down dy and right dx pixels, black where nothing came in."""
    out = np.zeros_like(image)
    height, width = image.shape
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = image[
        max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)
    ]
    return out


def test_random_shift_moves_each_image_by_whole_pixels():
    images = np.random.default_rng(4).random((32, 28, 28)).astype("float32") + 0.5  # no black pixels
    layer = RandomShift(2, seed=5)
    np.testing.assert_array_equal(np.asarray(layer(images, training=False)), images)
    out = np.asarray(layer(images, training=True))
    found = []
    for image, result in zip(images, out):
        matches = [
            (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if np.array_equal(shifted(image, dy, dx), result)
        ]
        assert len(matches) == 1, "every output is its input shifted by at most 2 pixels each way"
        found.append(matches[0])
    assert len(set(found)) > 5  # each image draws its own shift
    assert {dy for dy, _ in found} == {-2, -1, 0, 1, 2}


def erasing_layer(image_shape):
    """The erasing step of `flip-shift-erase`, as provador configures Keras' layer."""
    (layer,) = [
        layer for layer in augmentation_layers("flip-shift-erase", image_shape, seed=8) if "erasing" in layer.name
    ]
    return lambda images, training: np.asarray(layer(images[..., None], training=training))[..., 0]


def test_random_erasing_blacks_out_one_rectangle_in_about_half_the_images():
    images = np.random.default_rng(7).random((400, 28, 28)).astype("float32") + 0.5  # no black pixels
    layer = erasing_layer((28, 28))
    np.testing.assert_array_equal(layer(images, training=False), images)
    out = layer(images, training=True)
    erased = 0
    for image, result in zip(images, out):
        hole = result == 0
        np.testing.assert_array_equal(result[~hole], image[~hole])  # only the hole changes
        if hole.any():
            erased += 1
            rows, cols = np.nonzero(hole.any(axis=1))[0], np.nonzero(hole.any(axis=0))[0]
            assert hole.sum() == len(rows) * len(cols)  # one filled rectangle
            assert np.ptp(rows) + 1 == len(rows) and np.ptp(cols) + 1 == len(cols)
            assert 4 <= len(rows) <= 14 and 4 <= len(cols) <= 14
    assert 150 < erased < 250
    small = np.ones((200, 6, 6), "float32")  # rectangles scale with the image: sides ≤ 3 pixels here
    holes = erasing_layer((6, 6))(small, training=True) == 0
    assert 0 < holes.any(axis=(1, 2)).sum() < 200 and holes.any(axis=1).sum(axis=1).max() <= 3


def test_switching_architecture_resets_the_model_section():
    recipe = load_recipe("seed").with_overrides({"model.architecture": "cnn", "model.filters": [8, 16]})
    assert recipe.model.architecture == "cnn" and recipe.model_params["filters"] == [8, 16]
    assert "hidden" not in recipe.model_params


def test_shipped_recipes_load_with_their_documented_choices():
    assert {"seed", "mlp-fast", "cnn", "best", "photos"} <= set(list_recipes())
    fast = load_recipe("mlp-fast")
    assert fast.model_params["hidden"] == [300, 100] and fast.training.optimizer == "adam"
    assert fast.data.split == "stratified" and fast.data.validation == 5000  # chosen on validation only


@pytest.mark.parametrize("name", ["seed", "mlp-fast", "cnn", "best", "photos"])
def test_every_shipped_recipe_builds_its_model(name):
    recipe = load_recipe(name)
    model = build_model(recipe.model.architecture, **recipe.model_params)
    images = np.random.default_rng(6).integers(0, 256, (2, 28, 28)).astype("float32")
    assert np.asarray(model(images, training=False)).shape == (2, 10)
    if name == "best":  # flips and shifts, one convolution at full resolution
        assert {"random_flip", "random_shift", "conv1_1"} <= {layer.name for layer in model.layers}
    if name == "photos":
        assert "photo_look" in {layer.name for layer in model.layers}


@pytest.mark.slow
def test_a_cnn_with_augmentation_trains_saves_and_serves(tiny_dir, tiny_recipe, tmp_path):
    recipe = tiny_recipe.with_overrides({
        "model.architecture": "cnn", "model.filters": [8, 16], "model.dense": 32,
        "model.augmentation": "flip-shift-erase", "training.optimizer": "adam", "training.learning_rate": 0.003,
    })  # fmt: skip
    run = train(recipe, data_dir=tiny_dir, runs_dir=tmp_path, quiet=True)
    assert run.metrics["model"] == "cnn" and run.metrics["test"]["accuracy"] > 0.3
    assert set(run.metrics["seconds_to_val_accuracy"]) >= {"0.85", "0.93"}
    predictor = Predictor(run)  # reloads with safe_mode=True, custom pooling included
    assert predictor.predict(np.zeros((28, 28), np.uint8))[0].label in run.class_names
    assert not (run.path / "first-layer.png").exists()  # only drawn for an MLP
