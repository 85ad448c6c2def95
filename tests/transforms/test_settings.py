"""config_from_dict: values checked against the field types, errors name the key."""

from dataclasses import dataclass

import pytest

from transforms.settings import config_from_dict


@dataclass(frozen=True)
class Example:
    threshold: float | None = 0.5
    limit: int = 3
    enabled: bool = True
    names: tuple[str, ...] = ("a",)
    pairs: tuple[tuple[int, float | None], ...] = ((2, 0.2),)
    weights: dict[str, float] | None = None


def test_values_are_converted_to_the_field_types():
    config = config_from_dict(
        Example,
        {"threshold": 1, "names": ["x", "y"], "pairs": [[3, None], [4, 1]], "weights": {"a": 2}},
        "stages.x",
    )
    assert config == Example(1.0, 3, True, ("x", "y"), ((3, None), (4, 1.0)), {"a": 2.0})
    assert isinstance(config.threshold, float)


def test_null_disables_an_optional_rule_or_a_switch():
    config = config_from_dict(Example, {"threshold": None, "enabled": None}, "stages.x")
    assert (config.threshold, config.enabled) == (None, False)
    with pytest.raises(ValueError, match="stages.x.limit may not be null"):
        config_from_dict(Example, {"limit": None}, "stages.x")


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"limt": 1}, "stages.x: unknown setting(s) limt; known: enabled, limit"),
        ({"limit": 2.5}, "stages.x.limit must be an integer, not 2.5"),
        ({"limit": True}, "stages.x.limit must be an integer"),
        ({"enabled": 1}, "stages.x.enabled must be true or false"),
        ({"threshold": "0.1"}, "stages.x.threshold must be a number"),
        ({"pairs": [[2]]}, "stages.x.pairs[0] must be a list of 2 items"),
        ({"pairs": [["2", 0.1]]}, "stages.x.pairs[0][0] must be an integer"),
        ({"weights": {"a": "heavy"}}, "stages.x.weights.a must be a number"),
        ({"names": 3}, "stages.x.names must be a list"),
    ],
)
def test_bad_values_name_the_key(settings, message):
    with pytest.raises(ValueError) as err:
        config_from_dict(Example, settings, "stages.x")
    assert message in str(err.value)


def test_missing_mapping_gives_the_defaults():
    assert config_from_dict(Example, None, "stages.x") == Example()
    with pytest.raises(ValueError, match="stages.x: expected a mapping, got list"):
        config_from_dict(Example, [1], "stages.x")
