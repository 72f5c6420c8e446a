"""The ImageEmbedder as a TFX component: executor with real artifacts, and a LocalDagRunner run."""

import os

import numpy as np
import pytest
from tfx.types import artifact_utils, standard_artifacts

import image_embedder_fixtures as fx
from components.common import embeddings_io, formats
from components.common.artifacts import Embeddings
from components.image_embedder.executor import Executor
from components.image_embedder.options import EmbedderOptions
from model_fixtures import build_fixture_model


@pytest.fixture(scope="module")
def artifacts_dir(tmp_path_factory):
    """An Examples artifact directory (index split only) and a Model artifact directory."""
    root = tmp_path_factory.mktemp("artifacts")
    fx.write_index_split(str(root / "examples"), {i: fx.jpeg(i) for i in range(1, 13)})
    build_fixture_model(str(root / "model" / "Format-Serving"), ["a b"])
    return root


def input_artifacts(root):
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = artifact_utils.encode_split_names([formats.SPLIT_INDEX])
    model = standard_artifacts.Model()
    model.uri = str(root / "model")
    model.id = 41
    return {"examples": [examples], "model": [model]}


def output_artifacts(uri):
    embeddings = Embeddings()
    embeddings.uri = str(uri)
    os.makedirs(embeddings.uri, exist_ok=True)
    return {"embeddings": [embeddings]}


PROPERTIES = {
    "batch_size": 4,
    "num_workers": 0,
    "multiprocessing_min_images": 100_000,
    "incremental": 1,
    "code_version": "test",
}


def test_executor_writes_the_artifact_and_its_custom_properties(artifacts_dir, tmp_path):
    outputs = output_artifacts(tmp_path / "embeddings")
    Executor(Executor.Context(tmp_dir=str(tmp_path / "tmp"))).Do(
        input_artifacts(artifacts_dir), outputs, PROPERTIES
    )

    embeddings = outputs["embeddings"][0]
    items = embeddings_io.read_embeddings(embeddings.uri)
    assert items.image_ids.tolist() == list(range(1, 13)) and items.vectors.shape == (12, 16)
    summary = embeddings_io.read_summary(embeddings.uri)
    assert summary["model"]["uri"] == str(artifacts_dir / "model" / "Format-Serving")
    assert summary["code_version"] == "test"
    assert embeddings.get_int_custom_property("count") == 12
    assert embeddings.get_int_custom_property("dim") == 16
    assert embeddings.get_int_custom_property("model_artifact_id") == 41
    assert embeddings.get_int_custom_property("dead_letters") == 0
    assert embeddings.get_string_custom_property("execution_mode") == "in_memory"
    assert abs(embeddings.get_float_custom_property("norm_mean") - 1) < 1e-5
    assert embeddings.get_float_custom_property("images_per_second") > 0


def test_executor_needs_an_index_split(artifacts_dir, tmp_path):
    inputs = input_artifacts(artifacts_dir)
    inputs["examples"][0].split_names = artifact_utils.encode_split_names(["train"])
    with pytest.raises(ValueError, match="no 'index'"):
        Executor(Executor.Context(tmp_dir=str(tmp_path / "tmp"))).Do(
            inputs, output_artifacts(tmp_path / "embeddings"), PROPERTIES
        )


@pytest.mark.slow
def test_component_runs_in_a_local_dag_and_reuses_rows_incrementally(artifacts_dir, tmp_path):
    """Importer -> ImageEmbedder twice in one LocalDagRunner pipeline: the second run gets
    the first's output as previous_embeddings and embeds nothing new."""
    from ml_metadata.metadata_store import metadata_store
    from tfx.dsl.components.common.importer import Importer
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    from components.image_embedder.component import ImageEmbedder

    examples = Importer(
        source_uri=str(artifacts_dir / "examples"),
        artifact_type=standard_artifacts.Examples,
        properties={"split_names": artifact_utils.encode_split_names([formats.SPLIT_INDEX])},
    ).with_id("import_examples")
    model = Importer(
        source_uri=str(artifacts_dir / "model"), artifact_type=standard_artifacts.Model
    ).with_id("import_model")
    options = EmbedderOptions(batch_size=8)
    first = ImageEmbedder(
        examples.outputs["result"], model.outputs["result"], options=options
    ).with_id("embed_first")
    second = ImageEmbedder(
        examples.outputs["result"],
        model.outputs["result"],
        previous_embeddings=first.outputs["embeddings"],
        options=options,
    ).with_id("embed_again")
    db = str(tmp_path / "metadata.sqlite")
    LocalDagRunner().run(
        tfx_pipeline.Pipeline(
            pipeline_name="embedder-test",
            pipeline_root=str(tmp_path / "root"),
            components=[examples, model, first, second],
            enable_cache=False,
            metadata_connection_config=metadata.sqlite_metadata_connection_config(db),
        )
    )

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(db))
    (model_artifact,) = store.get_artifacts_by_type(standard_artifacts.Model.TYPE_NAME)
    produced = sorted(store.get_artifacts_by_type(Embeddings.TYPE_NAME), key=lambda a: a.id)
    assert len(produced) == 2
    properties = [a.custom_properties for a in produced]
    assert [p["count"].int_value for p in properties] == [12, 12]
    assert [p["embedded_new"].int_value for p in properties] == [12, 0]
    assert [p["reused"].int_value for p in properties] == [0, 12]
    assert [p["model_artifact_id"].int_value for p in properties] == [model_artifact.id] * 2
    assert properties[1]["incremental"].int_value == 1
    first_rows = embeddings_io.read_embeddings(produced[0].uri)
    second_rows = embeddings_io.read_embeddings(produced[1].uri)
    assert np.array_equal(first_rows.image_ids, second_rows.image_ids)
    assert np.array_equal(first_rows.vectors, second_rows.vectors)
