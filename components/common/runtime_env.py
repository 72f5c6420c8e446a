"""Process-wide environment for every t2i process: the one place that sets it.

Runs on `import t2i` (and `import components`), before anything imports TensorFlow,
so the variables below reach this process and every child it starts (Beam workers,
TF-free Task Library subprocesses).
"""

import os
import warnings

# TFX 1.16's libraries (Transform, Model Analysis) support tf_keras, and importing tfx
# flips this to 1 for child processes only when it is unset: pin it so every process,
# Beam workers included, runs the same Keras.
_FIXED = {
    "TF_USE_LEGACY_KERAS": "1",
    # The Trainer would otherwise `pip install --target` our module's folder as a wheel;
    # a uv-made venv has no pip. The module file is still hashed for caching.
    "UNSUPPORTED_DO_NOT_PACKAGE_USER_MODULES": "1",
}
_QUIET = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONWARNINGS": "ignore::FutureWarning,ignore::DeprecationWarning,ignore::UserWarning",
    "GRPC_VERBOSITY": "ERROR",
    "GLOG_minloglevel": "2",
    "ABSL_MIN_LOG_LEVEL": "2",
}
VERBOSE_FLAG = "T2I_VERBOSE"


def configure() -> None:
    """Sets the fixed variables, and the quiet ones unless T2I_VERBOSE=1."""
    for key, value in _FIXED.items():
        os.environ[key] = value
    if is_verbose():
        return
    for key, value in _QUIET.items():
        os.environ.setdefault(key, value)
    # PYTHONWARNINGS only reaches processes started after this; silence this one too.
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)


def set_verbose(verbose: bool) -> None:
    os.environ[VERBOSE_FLAG] = "1" if verbose else "0"
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        os.environ.pop("PYTHONWARNINGS", None)
        warnings.resetwarnings()


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_FLAG) == "1"


configure()
