import pytest

from provador.base.errors import RecipeError
from provador.core.recipes import list_recipes, load_recipe, parse_override


def test_seed_recipe_is_the_notebook():
    recipe = load_recipe("seed")
    assert (recipe.data.dataset, recipe.data.validation, recipe.data.split) == ("fashion-mnist", 1000, "first")
    assert recipe.model.architecture == "mlp" and recipe.model_params["hidden"] == [300, 100]
    t = recipe.training
    assert (t.optimizer, t.learning_rate, t.momentum, t.batch_size, t.epochs) == ("sgd", 0.01, 0.0, 32, 30)
    assert t.loss == "sparse_categorical_crossentropy" and t.schedule == "constant"
    assert "seed" in list_recipes()


def test_overrides_and_round_trip_through_toml(tmp_path):
    recipe = load_recipe("seed").with_overrides({"training.epochs": 2, "model.hidden": [64, 32], "seed": 7})
    path = tmp_path / "mine.toml"
    path.write_text(recipe.to_toml())
    again = load_recipe(path)
    assert again == recipe
    assert again.training.epochs == 2 and again.model_params["hidden"] == [64, 32] and again.seed == 7


@pytest.mark.parametrize(
    "override, expected",
    [
        ({"training.optimiser": "adam"}, "Did you mean `training.optimizer`?"),
        ({"training.optimizer": "adagrad"}, "`training.optimizer`: input should be 'sgd', 'adam'"),
        ({"training.epochs": 0}, "`training.epochs`: input should be greater than 0. Received: 0"),
        ({"training.batch_size": 0}, "`training.batch_size`"),
        ({"training.learning_rate": -0.1}, "`training.learning_rate`"),
        ({"model.architecture": "vgg"}, "`model.architecture` to be one of cnn, cnn-bn, mlp"),
        ({"model.hidden": [0]}, "`model.hidden`"),
        ({"nonsense.key": 1}, "Unknown recipe section `nonsense`"),
    ],
)
def test_invalid_values_name_the_key(override, expected):
    with pytest.raises(RecipeError) as info:
        load_recipe("seed").with_overrides(override)
    assert expected in str(info.value)


def test_unknown_recipe_lists_the_shipped_ones():
    with pytest.raises(RecipeError, match="shipped recipes \\(.*seed"):
        load_recipe("nope")


def test_invalid_toml_is_reported(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[training\nepochs = 3")
    with pytest.raises(RecipeError, match="not valid TOML"):
        load_recipe(path)


def test_parse_override_reads_toml_values_and_bare_words():
    assert parse_override("training.epochs=5") == ("training.epochs", 5)
    assert parse_override("model.hidden=[512, 256]") == ("model.hidden", [512, 256])
    assert parse_override("training.optimizer=adam") == ("training.optimizer", "adam")
    assert parse_override("training.nesterov=true") == ("training.nesterov", True)
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        parse_override("epochs")
