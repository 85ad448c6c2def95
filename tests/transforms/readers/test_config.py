"""ReaderConfig.from_dict: the `stages: {read: {...}}` settings, checked and named."""

from __future__ import annotations

import pytest

from transforms.readers.config import PERMISSIVE_LICENSES, ReaderConfig


def test_defaults_and_empty_mappings():
    assert ReaderConfig.from_dict(None) == ReaderConfig() == ReaderConfig.from_dict({})
    assert ReaderConfig().code_license_allowlist == PERMISSIVE_LICENSES
    assert ReaderConfig().commoncrawl_base_url == "https://data.commoncrawl.org/"


def test_values_as_yaml_gives_them():
    config = ReaderConfig.from_dict(
        {
            "extractor": "trafilatura",
            "main_content": False,
            "commoncrawl_base_url": "/mirror/",
            "max_files_per_listing": 3,
            "code_license_allowlist": ["MIT", "Apache-2.0"],
            "code_minified_mean_line_length": 200,  # an int for a float setting
            "max_replacement_ratio": 0.05,
        }
    )
    assert config.extractor == "trafilatura" and config.main_content is False
    assert config.max_files_per_listing == 3
    assert config.code_license_allowlist == ("MIT", "Apache-2.0")  # a tuple: hashable
    assert config.code_minified_mean_line_length == 200.0
    assert hash(config)


def test_null_disables_optional_rules():
    config = ReaderConfig.from_dict(
        {"code_license_allowlist": None, "code_minified_mean_line_length": None}
    )
    assert config.code_license_allowlist is None
    assert config.code_minified_mean_line_length is None


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"max_file_per_listing": 3}, "unknown setting(s) max_file_per_listing; known: "),
        ({"max_files_per_listing": "3"}, "stages.read.max_files_per_listing must be an integer"),
        ({"max_files_per_listing": 2.5}, "stages.read.max_files_per_listing must be an integer"),
        ({"max_files_per_listing": 0}, "stages.read.max_files_per_listing must be positive"),
        ({"parquet_batch_rows": True}, "stages.read.parquet_batch_rows must be an integer"),
        ({"main_content": "yes"}, "stages.read.main_content must be true or false"),
        ({"verify_digests": 1}, "stages.read.verify_digests must be true or false"),
        ({"max_replacement_ratio": "0.1"}, "stages.read.max_replacement_ratio must be a number"),
        (
            {"code_license_allowlist": {"MIT": 1}},
            "stages.read.code_license_allowlist must be a list",
        ),
        ({"code_vendored_patterns": [1]}, "stages.read.code_vendored_patterns[0] must be a string"),
        ({"code_vendored_patterns": None}, "stages.read.code_vendored_patterns may not be null"),
        ({"commoncrawl_base_url": 7}, "stages.read.commoncrawl_base_url must be a string"),
        ({"extractor": "lynx"}, "stages.read.extractor must be one of resiliparse, trafilatura"),
    ],
)
def test_unknown_keys_and_bad_types_name_the_key(settings, message):
    with pytest.raises(ValueError) as err:
        ReaderConfig.from_dict(settings)
    assert message in str(err.value)


def test_not_a_mapping():
    with pytest.raises(ValueError, match="stages.read: expected a mapping, got list"):
        ReaderConfig.from_dict(["extractor"])


def test_lists_given_in_code_become_tuples():
    config = ReaderConfig(code_license_allowlist=["MIT"], code_vendored_patterns=["vendor/"])
    assert config.code_license_allowlist == ("MIT",) and hash(config)


def test_a_single_string_is_a_one_item_list():
    assert ReaderConfig.from_dict({"code_license_allowlist": "MIT"}).code_license_allowlist == (
        "MIT",
    )
