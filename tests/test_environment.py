"""Catches a broken lock or set-up: both process kinds import what they need, the CLI starts."""

import os
import subprocess
import sys

from conftest import VENV_BIN

TF_FREE_PRELUDE = "import sys; sys.modules['tensorflow'] = None\n"


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_tensorflow_process_imports_the_stack():
    result = run_python(
        "import t2i\n"
        "import tensorflow, tfx, scann, apache_beam, kfp, ml_metadata, tensorflow_hub\n"
        "from tfx import v1\n"
        "from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner\n"
        "from tensorflow_lite_support.metadata.python.metadata_writers import metadata_writer\n"
        "from tensorflow_lite_support.scann_ondevice.cc.core import serialized_searcher_pb2\n"
        "import os, tf_keras\n"
        "assert os.environ['TF_USE_LEGACY_KERAS'] == '1'\n"
        "assert tensorflow.keras.__name__.startswith('tf_keras'), tensorflow.keras.__name__\n"
        "print('ok', tensorflow.__version__)\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ok 2.16" in result.stdout


def test_tf_free_process_imports_the_task_library():
    result = run_python(
        TF_FREE_PRELUDE + "from tflite_support.task import text, vision, processor\n"
        "from tensorflow_lite_support.scann_ondevice.cc.python import index_builder\n"
        "from tflite_support import metadata_writers\n"
        "print('ok', text.TextSearcher.__name__, vision.ImageSearcher.__name__)\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ok TextSearcher ImageSearcher" in result.stdout


def test_cli_help_and_version_work_without_tensorflow():
    t2i = os.path.join(VENV_BIN, "t2i")
    help_result = subprocess.run([t2i, "--help"], capture_output=True, text=True, timeout=60)
    assert help_result.returncode == 0, help_result.stderr
    assert "Usage: t2i" in help_result.stdout
    version_result = subprocess.run([t2i, "version"], capture_output=True, text=True, timeout=60)
    assert version_result.returncode == 0, version_result.stderr
    for package in (
        "tfx 1.16.0",
        "tensorflow 2.16.2",
        "apache-beam 2.59.0",
        "kfp 2.5.0",
        "scann 1.3.2",
        "tflite-support 0.4.4",
        "ml-metadata 1.16.0",
        "python 3.10",
    ):
        assert package in version_result.stdout
    # Neither command may import TensorFlow: checked directly, not by timing.
    probe = run_python(
        "import sys\nfrom click.testing import CliRunner\nfrom t2i.cli import main\n"
        "r = CliRunner().invoke(main, ['version']); assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(main, ['--help']); assert r.exit_code == 0, r.output\n"
        "print('tensorflow' in sys.modules, 'tfx' in sys.modules)\n"
    )
    assert probe.stdout.strip() == "False False", probe.stderr[-2000:]
