"""The three TFX components: specs built from the configs, executors run on real
artifacts (exporter -> builder -> validator), figures recorded as custom properties."""

import os

import pytest

from components.common import formats
from components.text_encoder_exporter.options import ExporterOptions
from components.searcher_builder.options import SearcherOptions
from components.searcher_validator.options import ValidatorOptions
from searcher_fixtures import clustered_unit_vectors, exported_encoders, write_embeddings


@pytest.fixture(scope="module")
def tfx_modules():
    from tfx import types
    from tfx.types import artifact_utils, standard_artifacts

    from components.common import artifacts

    return types, artifact_utils, standard_artifacts, artifacts


def _component_props(component) -> dict:
    return dict(component.exec_properties)


def test_exporter_builder_and_validator_executors(tmp_path, tfx_modules):
    types, artifact_utils, standard_artifacts, artifacts = tfx_modules
    from components.searcher_builder.component import SearcherBuilder
    from components.searcher_builder.executor import Executor as BuilderExecutor
    from components.searcher_validator.component import SearcherValidator
    from components.searcher_validator.executor import Executor as ValidatorExecutor
    from components.text_encoder_exporter.component import TextEncoderExporter
    from components.text_encoder_exporter.executor import Executor as ExporterExecutor

    fixtures = exported_encoders(tmp_path / "fixtures")
    model = standard_artifacts.Model()
    model.uri = fixtures["model"]  # holds Format-Serving/
    examples = standard_artifacts.Examples()
    examples.uri = fixtures["examples"]
    examples.split_names = artifact_utils.encode_split_names(
        [formats.SPLIT_TRAIN, formats.SPLIT_EVAL]
    )

    exporter = TextEncoderExporter.from_config(
        ExporterOptions(model_name="cli test"), model=types.Channel(type=standard_artifacts.Model)
    )
    props = _component_props(exporter)
    assert props["quantize"] == 0 and props["model_name"] == "cli test"
    assert props["code_version"].startswith("0.1.0+")
    text_encoder = artifacts.TextEncoder()
    text_encoder.uri = str(tmp_path / "text_encoder")
    ExporterExecutor().Do({"model": [model]}, {"text_encoder": [text_encoder]}, props)
    assert os.path.isfile(os.path.join(text_encoder.uri, formats.TEXT_ENCODER_TFLITE))
    assert text_encoder.get_float_custom_property("text_min_cosine") >= 0.999

    embeddings = artifacts.Embeddings()
    embeddings.uri = str(tmp_path / "embeddings")
    write_embeddings(
        embeddings.uri, list(range(1, 601)), clustered_unit_vectors(600, 16, spread=1.0)
    )
    config = SearcherOptions(tuning_queries=100)  # auto-tuned, on the train captions
    builder = SearcherBuilder.from_config(
        config,
        embeddings=types.Channel(type=artifacts.Embeddings),
        text_encoder=types.Channel(type=artifacts.TextEncoder),
        examples=types.Channel(type=standard_artifacts.Examples),
    )
    props = _component_props(builder)
    assert props["num_leaves_to_search"] == 0 and props["lookup"] == "auto"
    searcher = artifacts.Searcher()
    searcher.uri = str(tmp_path / "searcher")
    BuilderExecutor().Do(
        {"embeddings": [embeddings], "text_encoder": [text_encoder], "examples": [examples]},
        {"searcher": [searcher]},
        props,
    )
    assert searcher.get_int_custom_property("num_items") == 600
    assert searcher.get_int_custom_property("leaves_to_search") >= 1
    assert searcher.get_float_custom_property("tuning_recall_at_10") >= 0.95
    assert searcher.get_float_custom_property("bytes_per_item") > 0
    import json

    with open(os.path.join(searcher.uri, formats.SEARCHER_SUMMARY)) as f:
        assert json.load(f)["tuning"]["query_source"] == "captions"

    validator = SearcherValidator.from_config(
        ValidatorOptions(max_queries=40),
        searcher=types.Channel(type=artifacts.Searcher),
        embeddings=types.Channel(type=artifacts.Embeddings),
        text_encoder=types.Channel(type=artifacts.TextEncoder),
        examples=types.Channel(type=standard_artifacts.Examples),
    )
    blessing = artifacts.SearcherBlessing()
    blessing.uri = str(tmp_path / "blessing")
    ValidatorExecutor().Do(
        {
            "searcher": [searcher],
            "embeddings": [embeddings],
            "text_encoder": [text_encoder],
            "examples": [examples],
        },
        {"blessing": [blessing]},
        _component_props(validator),
    )
    assert blessing.get_int_custom_property("blessed") == 1, blessing.get_string_custom_property(
        "reasons"
    )
    assert blessing.get_int_custom_property("num_queries") == 40
    assert blessing.get_float_custom_property("recall_at_10") >= 0.95
    assert os.path.isfile(os.path.join(blessing.uri, formats.VALIDATION_SUMMARY))
