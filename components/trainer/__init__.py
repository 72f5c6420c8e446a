"""The dual-encoder Trainer: the module file (module_file.py, run_fn) and its model code."""

import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def code_version() -> str:
    """What the pipeline passes as custom_config["code_version"]: TFX's cache key covers the
    module file's contents only, not the modules it imports (this package and
    components/common, which holds the retrieval metrics it reports each epoch)."""
    from components.common.code_version import code_version as package_version

    return package_version(_PACKAGE_DIR)
