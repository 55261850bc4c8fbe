"""Several training steps per compiled call (JAX): the same training as Keras' own loop."""

import numpy as np
import pytest

from provador.core.datasets import dataset_for
from provador.work.fused_steps import fuse_train_steps
from provador.work.training import build_for


def _trained(recipe, dataset, fused: bool, images_per_call: int | None = None):
    model = build_for(recipe, dataset)
    if not fused:
        model.train_function = None  # Keras makes its own at fit
    elif images_per_call is not None:
        assert fuse_train_steps(model, recipe.model.architecture, recipe.training.batch_size, images_per_call)
    calls = []
    if fused:
        run = model.train_function.run
        model.train_function.run = lambda *args: calls.append(int(args[2])) or run(*args)
    history = model.fit(dataset.x_train, dataset.y_train, batch_size=recipe.training.batch_size,
                        epochs=recipe.training.epochs, validation_data=(dataset.x_valid, dataset.y_valid),
                        verbose=0)  # fmt: skip
    return model, history.history, calls


@pytest.mark.parametrize(
    ("steps_per_execution", "images_per_call", "groups"),
    [
        # 350 images in batches of 32: ten full batches, then one of 30 (stepped alone).
        (256, None, [10]),
        # Four batches per execution, three per call: 3 + 1 alone, 3 + 1 alone, 2 + the short one.
        (4, 96, [3, 3, 2]),
    ],
)
def test_fused_steps_train_the_same_weights_as_keras_own_loop(
    tiny_dir, tiny_recipe, steps_per_execution, images_per_call, groups
):
    recipe = tiny_recipe.with_overrides({"execution.steps_per_execution": steps_per_execution})
    dataset = dataset_for(recipe, tiny_dir)
    assert len(dataset.x_train) == 350
    fused, fused_history, calls = _trained(recipe, dataset, fused=True, images_per_call=images_per_call)
    plain, plain_history, _ = _trained(recipe, dataset, fused=False)
    assert calls == groups * recipe.training.epochs
    for a, b in zip(fused.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(fused_history[key], plain_history[key], rtol=1e-5)
    assert fused_history["val_accuracy"][-1] > 0.5  # it learnt: the tiny set's classes are easy


def test_convolutional_models_keep_keras_own_loop(tiny_dir, tiny_recipe):
    recipe = tiny_recipe.with_overrides({"model.architecture": "cnn", "model.filters": [4], "model.dense": 8})
    model = build_for(recipe, dataset_for(recipe, tiny_dir))
    assert model.train_function is None  # Keras builds its own at fit: convolutions are slower in a loop
    dense = build_for(tiny_recipe, dataset_for(tiny_recipe, tiny_dir))
    assert type(dense.train_function).__name__ == "_FusedTrainFunction"
