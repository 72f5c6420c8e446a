"""Where a collection's annotation files and images are, and which span each belongs to.

Layouts (all relative to the data root, each optionally repeated as span-<N>/...):
  COCO as distributed: annotations/captions_<name>.json with images in <name>/
  generic: one annotations JSON (data.annotations_file, or the single *.json at the top)
           with its images in data.image_dir, or in the one sub-folder there is.

The input patterns follow TFX ExampleGen's span convention so its driver can resolve the
latest span and fingerprint the matched files before the cache lookup.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from components.coco_example_gen import storage
from components.coco_example_gen.options import SPANS_ALL, SPANS_LATEST

COCO_ANNOTATIONS_GLOB = "annotations/captions_*.json"
GENERIC_ANNOTATIONS_GLOB = "*.json"
SPAN_DIR_PREFIX = "span-"
# Names of the ExampleGen input splits (TFX's term; they are file patterns, not data splits).
TOP_LEVEL_INPUT = "collection"
SPAN_INPUT = "spans"

_SPAN_DIR = re.compile(r"^span-(\d+)$")
_COCO_FILE = re.compile(r"^annotations/captions_(.+)\.json$")


class LayoutError(ValueError):
    """The data folder does not look like a collection we can read; the message says why."""


@dataclass(frozen=True)
class AnnotationSource:
    path: str  # the annotations JSON
    name: str  # its path relative to the data root, as messages and the report show it
    span: int  # 0 when the data root has no span-<N>/ folders
    image_dir: str
    image_dir_name: str  # image_dir relative to the data root ("." for the root itself)
    coco_split: str  # "train2017" for annotations/captions_train2017.json, else ""


def annotations_glob(data_dir: str, annotations_file: str = "") -> str:
    """The annotations file pattern relative to the data root (or to each span folder).

    An explicit annotations_file wins. Otherwise COCO's layout, unless a local data folder
    has no COCO captions files but does have *.json at its top (a generic collection).
    """
    if annotations_file:
        return annotations_file.strip().lstrip("/")
    if storage.is_remote(data_dir) or not storage.isdir(data_dir):
        return COCO_ANNOTATIONS_GLOB
    roots = [data_dir] + storage.glob(storage.join(data_dir, SPAN_DIR_PREFIX + "*"))
    if any(storage.glob(storage.join(root, COCO_ANNOTATIONS_GLOB)) for root in roots):
        return COCO_ANNOTATIONS_GLOB
    if any(storage.glob(storage.join(root, GENERIC_ANNOTATIONS_GLOB)) for root in roots):
        return GENERIC_ANNOTATIONS_GLOB
    return COCO_ANNOTATIONS_GLOB


def input_patterns(annotations_pattern: str, spans: str) -> list[tuple[str, str]]:
    """(input name, pattern) pairs for TFX's file-based ExampleGen driver.

    "latest": span-{SPAN}/..., which the driver resolves to the highest span number.
    "all": every span folder and a top-level collection, without {SPAN}, so the span is 0
    and the fingerprint covers all of them (a new span changes it).
    """
    if spans == SPANS_LATEST:
        return [(SPAN_INPUT, f"{SPAN_DIR_PREFIX}{{SPAN}}/{annotations_pattern}")]
    if spans == SPANS_ALL:
        return [
            (TOP_LEVEL_INPUT, annotations_pattern),
            (SPAN_INPUT, f"{SPAN_DIR_PREFIX}*/{annotations_pattern}"),
        ]
    raise LayoutError(f"spans must be {SPANS_LATEST!r} or {SPANS_ALL!r}, got {spans!r}")


def find_sources(data_dir: str, patterns: list[str], image_dir: str = "") -> list[AnnotationSource]:
    """The annotation files the (span-resolved) patterns match, each with its image folder."""
    matches = {pattern: storage.glob(storage.join(data_dir, pattern)) for pattern in patterns}
    used = [pattern for pattern, paths in matches.items() if paths]
    if not used:
        raise LayoutError(
            f"{data_dir}: no annotations file matches "
            f"{' or '.join(patterns)}; is this a COCO captions collection?"
        )
    top_level = [p for p in used if not p.startswith(SPAN_DIR_PREFIX)]
    if top_level and len(used) > 1:
        other = next(p for p in used if p != top_level[0])
        raise LayoutError(
            f"{data_dir}: both {top_level[0]} and {other} match; keep either a single "
            "collection at the top or span-<N>/ folders, not both"
        )
    return [_source(data_dir, path, image_dir) for pattern in used for path in matches[pattern]]


def span_range_patterns(data_dir: str, resolved_pattern: str, first: int, last: int) -> list[str]:
    """The driver's resolved `span-<last>/...` pattern for every span folder numbered
    first..last (just `last` when none is): the rebuild ingests every span its index
    lacks, not only the newest, so a missed tick loses nothing."""
    prefix = f"{SPAN_DIR_PREFIX}{last}/"
    if not resolved_pattern.startswith(prefix):
        return [resolved_pattern]
    rest = resolved_pattern[len(prefix) :]
    numbers = sorted(
        int(m.group(1))
        for d in storage.subdirectories(data_dir)
        if (m := _SPAN_DIR.match(d)) and first <= int(m.group(1)) <= last
    )
    return [f"{SPAN_DIR_PREFIX}{n}/{rest}" for n in (numbers or [last])]


def _source(data_dir: str, path: str, image_dir: str) -> AnnotationSource:
    name = storage.relative_to(path, data_dir)
    first, _, rest = name.partition("/")
    span_match = _SPAN_DIR.match(first)
    if span_match and rest:
        span, root_name, inner = int(span_match.group(1)), first, rest
    elif first.startswith(SPAN_DIR_PREFIX) and rest:
        raise LayoutError(f"{data_dir}/{first}: span folders are named span-<number>")
    else:
        span, root_name, inner = 0, ".", name
    coco_match = _COCO_FILE.match(inner)
    coco_split = coco_match.group(1) if coco_match else ""
    if image_dir:
        images_name = image_dir.strip().strip("/")
    elif coco_split:
        images_name = coco_split
    else:
        images_name = _only_image_folder(data_dir, root_name, name)
    image_dir_name = posixpath.normpath(posixpath.join(root_name, images_name))
    return AnnotationSource(
        path, name, span, storage.join(data_dir, image_dir_name), image_dir_name, coco_split
    )


def _only_image_folder(data_dir: str, root_name: str, annotations_name: str) -> str:
    root = storage.join(data_dir, root_name)
    folders = [
        d
        for d in storage.subdirectories(root)
        if d != "annotations" and not d.startswith(SPAN_DIR_PREFIX)
    ]
    if len(folders) > 1:
        raise LayoutError(
            f"{annotations_name}: cannot tell which folder holds its images "
            f"({', '.join(folders)}); set data.image_dir"
        )
    return folders[0] if folders else "."
