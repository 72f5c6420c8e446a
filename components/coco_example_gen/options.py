"""CocoExampleGen's options: the `data` section of the app's config (t2i/configs.py), and
the rules they must meet (`problems`)."""

from __future__ import annotations

from dataclasses import dataclass

from components.common import item_metadata as item_metadata_lib

SPLIT_HASH = "hash"
SPLIT_COCO = "coco"
SPLIT_MODES = (SPLIT_HASH, SPLIT_COCO)
SPANS_LATEST = "latest"
SPANS_ALL = "all"
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000


@dataclass
class DataOptions:
    # A COCO root (annotations/captions_<split>.json + <split>/), a generic collection
    # (one annotations JSON + one image folder), or a folder of span-<N>/ of either. The
    # app's Config defaults it to <default root>/sample-data (t2i/paths.py).
    data_dir: str = ""
    # Relative to data_dir (and to each span-<N>/). annotations_file may be a glob (e.g.
    # "annotations/captions_*2014.json" to pick COCO 2014); empty = COCO's
    # annotations/captions_*.json, else the *.json at the top of a generic collection.
    # image_dir empty = COCO's <name>/ for captions_<name>.json, else the one sub-folder.
    annotations_file: str = ""
    image_dir: str = ""
    # "hash": deterministic split by image id; "coco": COCO's own train/val files.
    split: str = SPLIT_HASH
    eval_fraction: float = 0.2
    # Images above this many pixels are skipped as decompression bombs.
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    # Which span(s) to ingest when data_dir holds span-<N>/ folders: "latest" or "all".
    spans: str = SPANS_ALL
    # What each search result carries (components/common/item_metadata.py): "flickr_path"
    # (<flickr id>_<image path>, what the seeds' client reads) or "id_flickr_file"
    # (<image id>|<flickr id>|<file>, the earlier layout).
    item_metadata: str = item_metadata_lib.DEFAULT_LAYOUT


def split_problems(split_mode: str, eval_fraction: float, max_image_pixels: int) -> list[str]:
    problems = []
    if split_mode not in SPLIT_MODES:
        problems.append(f"split mode must be one of {', '.join(SPLIT_MODES)}, got {split_mode!r}")
    if split_mode == SPLIT_HASH and not 0.0 < eval_fraction < 1.0:
        problems.append(f"eval_fraction must be between 0 and 1 (exclusive), got {eval_fraction}")
    if max_image_pixels <= 0:
        problems.append(f"max_image_pixels must be positive, got {max_image_pixels}")
    return problems


def problems(options: DataOptions) -> list[str]:
    """What is wrong with the options, one message each (empty: nothing)."""
    found = split_problems(options.split, options.eval_fraction, options.max_image_pixels)
    if options.spans not in (SPANS_LATEST, SPANS_ALL):
        found.append(f"spans must be {SPANS_LATEST!r} or {SPANS_ALL!r}, got {options.spans!r}")
    if options.item_metadata not in item_metadata_lib.LAYOUTS:
        found.append(
            f"item_metadata must be one of {', '.join(item_metadata_lib.LAYOUTS)}, "
            f"got {options.item_metadata!r}"
        )
    return [f"data: {p}" for p in found]
