"""What the searcher's results are: each indexed image's id, file, captions and Flickr link,
read from the collection's own annotation files. TF-free (the search CLI and `t2i serve`).

A searcher result carries only its item metadata (`<flickr id>_<image path>` by default,
see components/common/item_metadata.py); the image path in it is relative to the collection
root and unique there, so it is the key that joins a result to its annotations. The
annotation files are found exactly as CocoExampleGen finds them (layout.py) and parsed
with its parser, so the catalog and the index agree on every path.
"""

from __future__ import annotations

import os
import posixpath
import threading
from dataclasses import dataclass, field

from components.coco_example_gen import annotations as coco_annotations
from components.coco_example_gen import layout
from components.common import item_metadata


class CatalogError(LookupError):
    """The collection cannot be read; the message names the folder or file."""


@dataclass(frozen=True)
class CatalogItem:
    image_id: int
    file_name: str  # relative to the collection root, as the item metadata holds it
    path: str  # absolute path of the image file
    captions: tuple[str, ...]
    flickr_id: str = ""

    @property
    def flickr_url(self) -> str:
        return item_metadata.flickr_photo_url(self.flickr_id)


@dataclass
class Catalog:
    data_dir: str
    by_file: dict[str, CatalogItem] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.by_file)

    def item(self, item: item_metadata.ItemMetadata | None) -> CatalogItem | None:
        """The catalog entry of a decoded search result, or None when it is not listed."""
        return self.by_file.get(item.file_name) if item is not None else None

    def image_id_of(self, item: item_metadata.ItemMetadata | None) -> int | None:
        if item is not None and item.image_id is not None:
            return item.image_id
        found = self.item(item)
        return found.image_id if found else None


def load(data_dir: str, annotations_file: str = "", image_dir: str = "") -> Catalog:
    """Reads every annotations JSON of the collection (the top level and every span-<N>/)."""
    data_dir = os.path.abspath(data_dir)
    if not os.path.isdir(data_dir):
        raise CatalogError(f"{data_dir}: no such collection folder")
    pattern = layout.annotations_glob(data_dir, annotations_file)
    patterns = [p for _, p in layout.input_patterns(pattern, layout.SPANS_ALL)]
    try:
        sources = layout.find_sources(data_dir, patterns, image_dir)
    except layout.LayoutError as e:
        raise CatalogError(str(e)) from e
    catalog = Catalog(data_dir)
    for source in sources:
        with open(source.path, "rb") as f:
            raw = f.read()
        try:
            parsed = coco_annotations.parse(source.name, raw)
        except coco_annotations.AnnotationError as e:
            raise CatalogError(str(e)) from e
        for image in parsed.images:
            # The path rule of CocoExampleGen's collection_file_name().
            name = posixpath.normpath(posixpath.join(source.image_dir_name, image.file_name))
            catalog.by_file[name] = CatalogItem(
                image.image_id,
                name,
                os.path.join(data_dir, *name.split("/")),
                tuple(parsed.captions.get(image.image_id, ())),
                item_metadata.flickr_id_from_url(image.flickr_url),
            )
    return catalog


class CatalogCache:
    """Catalogs by collection folder, each read once (a server asks for them per request)."""

    def __init__(self) -> None:
        self._catalogs: dict[tuple[str, str, str], Catalog] = {}
        self._lock = threading.Lock()

    def get(self, data_dir: str, annotations_file: str = "", image_dir: str = "") -> Catalog:
        key = (os.path.abspath(data_dir), annotations_file, image_dir)
        with self._lock:
            if key not in self._catalogs:
                self._catalogs[key] = load(*key)
            return self._catalogs[key]


def collection_of_version(version_dir: str, root: str, default_data_dir: str) -> dict:
    """The collection a pushed version (or a searcher folder) indexes: the `data` section its
    run recorded in ML Metadata (version.json names the run), else `default_data_dir`."""
    from components.common import serving
    from t2i import local_runner, mlmd

    data: dict = {}
    try:
        run_id = serving.read_version_info(version_dir).get("pipeline_run_id")
    except (OSError, ValueError):
        run_id = None
    if run_id:
        try:
            store = mlmd.connect(root)
            data = local_runner.recorded_config(store, run_id).get("data", {})
        except (mlmd.StoreError, ValueError):
            data = {}
    return {
        "data_dir": os.path.abspath(data.get("data_dir") or default_data_dir),
        "annotations_file": data.get("annotations_file", ""),
        "image_dir": data.get("image_dir", ""),
    }
