"""Files in an image folder that no annotation lists: counted in the ingest report with the
first few names, so images that were meant to be searchable do not vanish without a word.

Only names are listed (nothing is opened, so a named pipe costs nothing). The annotation
files, the COCO `annotations/` folder and span folders are part of the layout, not images.
"""

from __future__ import annotations

import os

from components.coco_example_gen import storage
from components.coco_example_gen.layout import SPAN_DIR_PREFIX, AnnotationSource

MAX_NAMED = 10


def find(data_dir: str, sources: list[AnnotationSource], items: list[dict]) -> dict:
    """{"count": n, "first": [up to MAX_NAMED names relative to the data root]};
    {"count": None, ...} for remote collections, whose listing could cost more than the run."""
    if storage.is_remote(data_dir):
        return {"count": None, "first": []}
    listed = {
        os.path.normpath(os.path.join(item["image_dir"], item["file_name"])) for item in items
    }
    layout_files = {os.path.normpath(source.path) for source in sources}
    names: set[str] = set()
    for image_dir in sorted({os.path.normpath(source.image_dir) for source in sources}):
        names.update(_unlisted_under(data_dir, image_dir, listed | layout_files))
    ordered = sorted(names)
    return {"count": len(ordered), "first": ordered[:MAX_NAMED]}


def _unlisted_under(data_dir: str, image_dir: str, known: set[str]) -> list[str]:
    found = []
    for folder, subfolders, files in os.walk(image_dir):
        if os.path.normpath(folder) == os.path.normpath(data_dir) or _is_span_root(folder):
            subfolders[:] = [
                d for d in subfolders if d != "annotations" and not d.startswith(SPAN_DIR_PREFIX)
            ]
        subfolders.sort()
        for name in files:
            path = os.path.normpath(os.path.join(folder, name))
            if path not in known:
                found.append(storage.relative_to(path, data_dir))
    return found


def _is_span_root(folder: str) -> bool:
    return os.path.basename(os.path.normpath(folder)).startswith(SPAN_DIR_PREFIX)
