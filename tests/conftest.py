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
