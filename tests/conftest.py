"""Shared fixtures. Importing `pipeline` first sets the process environment (Keras
flavour, quiet logs) before any test module imports TensorFlow."""

import os
import sys

import t2i  # noqa: F401  (must precede TensorFlow)
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="session")
def sample_collection(tmp_path_factory):
    """A 300-image synthetic COCO-format collection, made once per test session."""
    from t2i import sample_data

    out = tmp_path_factory.mktemp("sample") / "coco"
    sample_data.generate(str(out), num_images=300, seed=1)
    return str(out)


E2E_SPAN_IMAGES = 300  # >= 256: a partitioned, hashed index, which the rebuild extends
E2E_NEW_SPAN_IMAGES = 40
E2E_SEED = 3
# The e2e runs' settings (beside their data and roots); the emulated Kubeflow run uses the
# same ones so that the two runs can be compared. The small towers are pinned: the test
# budget cannot pay for pretrained ones.
E2E_SETTINGS = (
    "trainer.image_tower=small_cnn",
    "trainer.text_tower=small_text",
    "trainer.epochs=3",
    "trainer.batch_size=32",
    "evaluator.min_recall_at_10=0.0",
    "validator.min_recall_at_10=0.9",
)


@pytest.fixture(scope="session")
def e2e_runs(tmp_path_factory):
    """One real store, made once per session: the full DAG on a small two-span sample, an
    unchanged re-run, a new span through the rebuild DAG (version 2), a tick with nothing
    new. Returns (config, {name: (outcome, printed)}); tests only read what it left.
    The small towers are pinned: the test budget cannot pay for pretrained ones."""
    import io

    from t2i import sample_data, workflows
    from t2i.configs import load_config

    base = tmp_path_factory.mktemp("e2e")
    data_dir = str(base / "data")
    sample_data.generate(data_dir, num_images=E2E_SPAN_IMAGES, seed=E2E_SEED, spans=2)
    config = load_config(
        None, [f"data.data_dir={data_dir}", f"pipeline.root={base / 'runs'}", *E2E_SETTINGS]
    )
    outcomes = {}
    for name, kind in (("first", "full"), ("again", "full")):
        out = io.StringIO()
        outcomes[name] = (workflows.run(config, out=out, pipeline_kind=kind), out.getvalue())
    sample_data.add_span(data_dir, E2E_NEW_SPAN_IMAGES, seed=E2E_SEED)
    for name in ("rebuild", "nothing_new"):
        out = io.StringIO()
        outcomes[name] = (workflows.run(config, out=out, pipeline_kind="rebuild"), out.getvalue())
    return config, outcomes
