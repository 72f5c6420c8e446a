"""CocoExampleGen's options: the `data` section of the app's config (t2i/configs.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataOptions:
    # A COCO root (annotations/captions_<split>.json + <split>/), a generic collection
    # (one annotations JSON + one image folder), or a folder of span-<N>/ of either.
    data_dir: str = "runs/sample-data"
    # Relative to data_dir (and to each span-<N>/). annotations_file may be a glob (e.g.
    # "annotations/captions_*2014.json" to pick COCO 2014); empty = COCO's
    # annotations/captions_*.json, else the *.json at the top of a generic collection.
    # image_dir empty = COCO's <name>/ for captions_<name>.json, else the one sub-folder.
    annotations_file: str = ""
    image_dir: str = ""
    # "hash": deterministic split by image id; "coco": COCO's own train/val files.
    split: str = "hash"
    eval_fraction: float = 0.2
    # Images above this many pixels are skipped as decompression bombs.
    max_image_pixels: int = 40_000_000
    # Which span(s) to ingest when data_dir holds span-<N>/ folders: "latest" or "all".
    spans: str = "all"
