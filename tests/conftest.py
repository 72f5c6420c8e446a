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
# same ones so that the two runs can be compared.
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


# `make test` runs two pytest-xdist workers; a work unit is a whole file, so module fixtures
# are built once. Files that read the one session-wide e2e store share a unit, so the store
# is built once too. (xdist's own `loadgroup` cannot do this under pytest 9: it renames
# items through an attribute pytest 9 no longer reads.)
_E2E_STORE_FILES = {
    "test_pipeline_e2e.py",
    "test_seeds_client.py",
    "test_serve.py",
    "test_kubeflow_emulated.py",  # compares its emulated Kubeflow runs with the store
}
# The longest units go first, alternating between the workers: one started last would run
# alone at the end while the other core idles. Measured with --durations on 2 cores.
_LONGEST_FIRST = (
    "test_pipeline_e2e.py",  # the e2e store's unit, with the emulated Kubeflow runs
    "test_faults_pipeline.py",
    "test_real_photos.py",
    "test_schedule.py",
    "test_portable_runner.py",
)


def _unit_of(test_file: str) -> str:
    name = os.path.basename(test_file)
    return "test_pipeline_e2e.py" if name in _E2E_STORE_FILES else name


def _rank(item) -> int:
    unit = _unit_of(str(item.path))
    return _LONGEST_FIRST.index(unit) if unit in _LONGEST_FIRST else len(_LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_rank)  # stable: each file keeps its own order


@pytest.hookimpl(optionalhook=True)  # without xdist (-p no:xdist) it is not a hook
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class FileUnits(LoadScopeScheduling):
        """Distributes whole units in collection order (with --no-loadscope-reorder)."""

        def _split_scope(self, nodeid: str) -> str:
            return _unit_of(nodeid.split("::", 1)[0])

    return FileUnits(config, log)
