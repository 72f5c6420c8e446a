import json

import pytest

from t2i.configs import Config, ConfigError, load_config


def test_defaults_round_trip_through_json():
    config = load_config()
    assert config.trainer.embedding_dim == 128
    assert json.loads(config.to_json())["searcher"]["target_recall_at_10"] == 0.95


def test_yaml_file_then_cli_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "trainer:\n  epochs: 3\n  freeze_backbone: false\npipeline:\n  beam_args: [--a=1]\n"
    )
    config = load_config(
        str(path),
        [
            "trainer.epochs=5",
            "searcher.lookup=float",
            "pipeline.beam_args=--x=1,--y=2",
            "data.eval_fraction=0.1",
        ],
    )
    assert config.trainer.epochs == 5
    assert config.trainer.freeze_backbone is False
    assert config.searcher.lookup == "float"
    assert config.pipeline.beam_args == ["--x=1", "--y=2"]
    assert config.data.eval_fraction == 0.1


def test_toml_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[searcher]\nnum_leaves = 100\n")
    assert load_config(str(path)).searcher.num_leaves == 100


@pytest.mark.parametrize(
    "content, needle",
    [
        ("nosuch:\n  a: 1\n", "unknown section 'nosuch'"),
        ("trainer:\n  nosuch: 1\n", "unknown field trainer.nosuch"),
        ("trainer:\n  epochs: many\n", "trainer.epochs"),
        ("trainer: [1, 2]\n", "must be a mapping"),
        ("trainer:\n  epochs: [1\n", "cannot parse"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, content, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert needle in str(error.value)
    assert str(path) in str(error.value)


def test_bad_overrides():
    with pytest.raises(ConfigError, match="expected section.field=value"):
        load_config(None, ["trainer.epochs"])
    with pytest.raises(ConfigError, match="expected an integer"):
        load_config(None, ["trainer.epochs=2.5"])
    with pytest.raises(ConfigError, match="true or false"):
        load_config(None, ["trainer.freeze_backbone=maybe"])


def test_missing_file():
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("/nonexistent/config.yaml")


def test_config_is_a_fresh_object_each_time():
    assert Config().pipeline.beam_args is not Config().pipeline.beam_args
