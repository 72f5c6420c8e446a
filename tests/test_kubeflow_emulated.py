"""The compiled Kubeflow spec of the product's full DAG, executed task by task by
tests/kfp_emulator.py (a stand-in for KFP's driver and launcher: no cluster can run here),
in processes whose only project code is the wheel built from this repository.

Scope: the ingestion and validation tasks (CocoExampleGen with TFX's span-resolving
driver hook, StatisticsGen, ImportSchemaGen with the schema inside the image,
ExampleValidator, DataGate). Every task is a fresh process importing TFX (~15 s each on an
idle machine), so the whole 14-task DAG to a pushed searcher, and its comparison with a
local run, did not fit this suite's time budget; it has not been run to completion here
(README, "Scaling out"). Resolver nodes are not among these tasks.
"""

import json
import os

import pytest

from conftest import REPO_ROOT
from kfp_emulator import Emulator, build_wheel, install_wheel

IMAGES = 60
INGESTION = {"CocoExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "DataGate"}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    """The component image's project code: the repository's wheel, installed --no-deps."""
    root = tmp_path_factory.mktemp("image")
    wheel = build_wheel(REPO_ROOT, str(root / "dist"))
    target = root / "opt" / "t2i-searcher"
    install_wheel(wheel, str(target))
    return str(target)


@pytest.mark.slow
def test_compiled_ingestion_tasks_run_from_the_wheel_as_kfp_would_run_them(tmp_path, image_dir):
    from t2i import sample_data
    from t2i.configs import load_config
    from t2i.kubeflow import compiler

    data_dir = str(tmp_path / "data")
    sample_data.generate(data_dir, num_images=IMAGES, seed=5, image_size=48)
    config = load_config(
        None,
        [
            f"kubeflow.pipeline_root={tmp_path / 'kfp-root'}",
            f"kubeflow.data_dir={data_dir}",
            f"kubeflow.serving_dir={tmp_path / 'kfp-serving'}",
            f"kubeflow.code_root={image_dir}",
            "kubeflow.image=t2i-searcher:test",
        ],
    )
    compiled = compiler.compile_pipeline(config, "full", out=str(tmp_path / "spec" / "full.yaml"))
    assert INGESTION < set(compiled.tasks)

    emulator = Emulator(str(tmp_path / "kfp-root"), image_dir, str(tmp_path / "harness"))
    run = emulator.run(compiled.yaml_path, "run-1", only=INGESTION)
    failed = [t for t in run.tasks.values() if t.state == "FAILED"]
    assert not failed, failed[0].reason
    assert {name: t.state for name, t in run.tasks.items()} == dict.fromkeys(INGESTION, "SUCCEEDED")

    # The project's own tasks imported the project from the wheel's target dir only.
    for name in ("CocoExampleGen", "DataGate"):
        imports = run.tasks[name].imports
        assert imports, f"no import record from {name}'s process"
        for module, path in imports.items():
            assert path is None or path.startswith(image_dir + os.sep), (name, module, path)

    examples = run.tasks["CocoExampleGen"].outputs["examples"][0]["metadata"]
    assert examples["images_ingested"] == IMAGES
    assert examples["split_index_count"] == IMAGES
    assert examples["split_train_count"] + examples["split_eval_count"] == IMAGES
    # The driver hook resolved the span before the executor ran (preCacheCheck).
    assert examples["span"] == 0
    schema_uri = run.tasks["ImportSchemaGen"].outputs["schema"][0]["uri"]
    assert os.path.isfile(os.path.join(schema_uri, "schema.pbtxt"))
    print(
        "emulated KFP task seconds:",
        json.dumps({name: round(t.seconds, 1) for name, t in run.tasks.items()}),
    )
