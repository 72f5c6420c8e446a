"""Everything a run can check before it imports TFX (~17 s) and registers a run: every config
value's range, the data folder and the pipeline root. The one place these rules live; a
problem here costs a second and leaves nothing behind, where the same problem found by a
component costs the TFX import, maybe a training, and a failed run in the history.

`check_config` collects every problem (not only the first), naming `section.field`, the
value and the allowed range. Components keep their own checks for direct callers; these
rules are the same ranges, applied up front.
"""
from __future__ import annotations

import glob
import os
import tempfile

from components.common.options import ConfigError
from t2i.configs import Config


class DataDirError(ValueError):
    """--data names no usable collection."""


class RootError(ValueError):
    """--root cannot hold a pipeline root."""


# (section, field) -> (check, what it must be). Fields not listed take any value of their
# type; choices are listed with their allowed values.
_AT_LEAST_1 = (lambda v: v >= 1, "at least 1")
_AT_LEAST_0 = (lambda v: v >= 0, "at least 0")
_FRACTION_OPEN = (lambda v: 0 < v < 1, "between 0 and 1 (exclusive)")
_FRACTION = (lambda v: 0 <= v <= 1, "between 0 and 1")
_POSITIVE = (lambda v: v > 0, "positive")

RULES: dict[tuple[str, str], tuple] = {
    ("data", "eval_fraction"): _FRACTION_OPEN,
    ("data", "max_image_pixels"): _AT_LEAST_1,
    ("data", "split"): (lambda v: v in ("hash", "coco"), "one of: hash, coco"),
    ("data", "spans"): (lambda v: v in ("all", "latest"), "one of: all, latest"),
    ("trainer", "vocab_min_count"): _AT_LEAST_1,
    ("trainer", "vocab_max_size"): (lambda v: v >= 2, "at least 2"),
    ("evaluator", "min_recall_at_10"): _FRACTION,
    ("evaluator", "max_regression"): _FRACTION,
    ("evaluator", "contact_sheet_queries"): _AT_LEAST_0,
    ("embedder", "batch_size"): _AT_LEAST_1,
    ("embedder", "num_workers"): _AT_LEAST_0,
    ("embedder", "multiprocessing_min_images"): _AT_LEAST_0,
    ("exporter", "min_cosine_float"): (lambda v: -1 <= v <= 1, "between -1 and 1"),
    ("exporter", "min_cosine_quantized"): (lambda v: -1 <= v <= 1, "between -1 and 1"),
    ("searcher", "distance"): (lambda v: v in ("dot_product", "squared_l2"),
                               "one of: dot_product, squared_l2"),
    ("searcher", "scoring"): (lambda v: v in ("ah", "brute_force"), "one of: ah, brute_force"),
    ("searcher", "lookup"): (lambda v: v in ("auto", "int8", "float"),
                             "one of: auto, int8, float"),
    ("searcher", "num_leaves"): _AT_LEAST_0,
    ("searcher", "num_leaves_to_search"): _AT_LEAST_0,
    ("searcher", "training_sample_size"): _AT_LEAST_1,
    ("searcher", "dimensions_per_block"): _AT_LEAST_1,
    ("searcher", "anisotropic_quantization_threshold"): (lambda v: v >= 0, "at least 0"),
    ("searcher", "target_recall_at_10"): (lambda v: 0 < v <= 1, "in (0, 1]"),
    ("searcher", "tuning_queries"): _AT_LEAST_1,
    ("searcher", "incremental_max_growth"): _POSITIVE,
    ("validator", "min_recall_at_10"): _FRACTION,
    ("validator", "max_queries"): _AT_LEAST_1,
}


def config_problems(config: Config) -> list[str]:
    """Every out-of-range value as "section.field must be ... (got value)"."""
    from components.trainer import options as trainer_options

    problems = []
    for (section, name), (ok, must_be) in RULES.items():
        value = getattr(getattr(config, section), name)
        if not ok(value):
            problems.append(f"{section}.{name} must be {must_be} (got {value!r})")
    if config.searcher.num_leaves and config.searcher.num_leaves_to_search > (
            config.searcher.num_leaves):
        problems.append(f"searcher.num_leaves_to_search ({config.searcher.num_leaves_to_search}) "
                        f"must not exceed searcher.num_leaves ({config.searcher.num_leaves})")
    try:
        trainer_options.validate(config.trainer)  # the Trainer's own rules, not a copy
    except ConfigError as e:
        problems += [p.strip() for p in str(e).split(":", 1)[1].split(";")]
    return problems


def check_config(config: Config) -> None:
    problems = config_problems(config)
    if problems:
        raise ConfigError("config: " + "; ".join(problems))


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
            "folders); is this a COCO captions collection?")


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
