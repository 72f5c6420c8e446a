"""Everything a run can check before it imports TFX and registers a run: every config
value's range (the one validation, t2i/configs.py), the data folder and the pipeline root.
A problem here costs a second and leaves nothing behind, where the same problem found by a
component costs the TFX import, maybe a training, and a failed run in the history.
"""

from __future__ import annotations

import glob
import os
import tempfile

from t2i.configs import Config


class DataDirError(ValueError):
    """--data names no usable collection."""


class RootError(ValueError):
    """--root cannot hold a pipeline root."""


def check_config(config: Config) -> None:
    """Every config value's range: the one validation (t2i/configs.py: validate, whose
    per-section rules live with each component's options)."""
    from t2i import configs

    configs.validate(config)


def check_data_dir(data_dir: str, annotations_file: str = "") -> None:
    """The collection exists and holds an annotations file where the layout looks for one
    (or span-<N>/ folders that do). Remote folders are left to the ingestion."""
    if "://" in data_dir:
        return
    from components.coco_example_gen import layout

    if not os.path.exists(data_dir):
        raise DataDirError(f"--data {data_dir}: no such folder")
    if not os.path.isdir(data_dir):
        raise DataDirError(f"--data {data_dir}: not a folder (give the collection's folder)")
    pattern = layout.annotations_glob(data_dir, annotations_file)
    roots = [data_dir] + sorted(glob.glob(os.path.join(glob.escape(data_dir), "span-*")))
    if not any(glob.glob(os.path.join(glob.escape(root), pattern)) for root in roots):
        raise DataDirError(
            f"--data {data_dir}: no annotations file ({pattern}, at the top or in span-<N>/ "
            "folders); is this a COCO captions collection?"
        )


def check_root(root: str) -> None:
    """The pipeline root is a folder this process can create and write in."""
    if "://" in root:
        return
    if os.path.exists(root) and not os.path.isdir(root):
        raise RootError(f"--root {root}: it is a file, not a folder")
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as e:
        raise RootError(f"--root {root}: cannot create it: {e.strerror or e}") from None
    try:
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as e:
        raise RootError(f"--root {root}: cannot write in it: {e.strerror or e}") from None


def check_run(config: Config) -> None:
    """All of the above for `t2i run` / a rebuild / `t2i demo` (data made by the demo is
    checked by the caller after making it)."""
    check_config(config)
    check_root(config.pipeline.root)
    check_data_dir(config.data.data_dir, config.data.annotations_file)
