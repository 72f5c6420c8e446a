"""Parse and check one COCO captions JSON.

Structural problems (bad JSON, wrong top-level keys, an image record without a usable id or
file name, an image id listed twice) make the whole run fail with the file and record named:
that data is ambiguous and is not guessed. Problems with single captions are counted and
listed under a reason instead, and the rest of the file is used.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field

UNKNOWN_IMAGE_ID = "unknown_image_id"
EMPTY = "empty"
WHITESPACE_ONLY = "whitespace_only"
NON_UTF8 = "non_utf8"
INVALID_RECORD = "invalid_record"
IMAGE_SKIPPED = "image_skipped"  # decided later, when the image itself is skipped
SKIP_REASONS = (UNKNOWN_IMAGE_ID, EMPTY, WHITESPACE_ONLY, NON_UTF8, INVALID_RECORD, IMAGE_SKIPPED)

REQUIRED_KEYS = ("images", "annotations")


class AnnotationError(ValueError):
    """The annotations cannot be used as they are; the message names the file and record."""


@dataclass(frozen=True)
class ImageRecord:
    image_id: int
    file_name: str
    coco_url: str = ""
    flickr_url: str = ""


@dataclass(frozen=True)
class CaptionSkip:
    annotations_file: str
    index: int  # position in annotations[]
    image_id: object
    reason: str


@dataclass
class CaptionsFile:
    name: str
    images: list[ImageRecord]
    captions: dict[int, list[str]]  # image id -> kept captions, in file order
    captions_seen: int = 0
    skipped: list[CaptionSkip] = field(default_factory=list)


def parse(name: str, raw: bytes) -> CaptionsFile:
    """`name` is how messages refer to the file (its path relative to the data root)."""
    document = _load_json(name, raw)
    images = [_image_record(name, i, record) for i, record in enumerate(document["images"])]
    _check_unique_ids(name, images)
    known_ids = {image.image_id for image in images}
    result = CaptionsFile(name, images, collections.defaultdict(list))
    for index, record in enumerate(document["annotations"]):
        result.captions_seen += 1
        image_id, caption, reason = _caption(record, known_ids)
        if reason:
            result.skipped.append(CaptionSkip(name, index, image_id, reason))
        else:
            result.captions[image_id].append(caption)
    result.captions = dict(result.captions)
    return result


def _load_json(name: str, raw: bytes) -> dict:
    # Undecodable bytes survive as lone surrogates, so a bad caption costs that caption
    # (reported as non_utf8) rather than the whole file.
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(
            f"{name}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    if not isinstance(document, dict):
        raise AnnotationError(
            f"{name}: the top level is a JSON {_json_type(document)}, expected "
            "an object with 'images' and 'annotations' lists"
        )
    missing = [key for key in REQUIRED_KEYS if key not in document]
    if missing:
        found = ", ".join(repr(k) for k in list(document)[:10]) or "none"
        raise AnnotationError(
            f"{name}: missing top-level key {' and '.join(map(repr, missing))} "
            f"(found {found}); is this a COCO captions file?"
        )
    for key in REQUIRED_KEYS:
        if not isinstance(document[key], list):
            raise AnnotationError(
                f"{name}: top-level {key!r} is a JSON {_json_type(document[key])}, expected a list"
            )
    return document


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


# Image ids become int64 features and metadata strings: 0 .. 2**63 - 1.
MAX_IMAGE_ID = 2**63 - 1


def _image_record(name: str, index: int, record: object) -> ImageRecord:
    """One images[] entry, every field's type and range checked: a problem names the file,
    the JSON path (images[3].flickr_url) and what is wrong, before anything runs on it."""
    where = f"{name}: images[{index}]"
    if not isinstance(record, dict):
        raise AnnotationError(f"{where} is a JSON {_json_type(record)}, expected an object")
    image_id = record.get("id")
    if not _is_int(image_id):
        raise AnnotationError(f"{where}.id must be an integer, got {image_id!r}")
    if not 0 <= image_id <= MAX_IMAGE_ID:
        raise AnnotationError(f"{where}.id {image_id} is out of range (0 .. 2**63-1)")
    where = f"{where} (id {image_id})"
    file_name = record.get("file_name")
    if not isinstance(file_name, str) or not file_name.strip():
        raise AnnotationError(f"{where}.file_name must be a non-empty string, got {file_name!r}")
    if not _is_utf8(file_name):
        raise AnnotationError(f"{where}.file_name {file_name!r} is not valid UTF-8")
    urls = {}
    for key in ("coco_url", "flickr_url"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise AnnotationError(f"{where}.{key} must be a string, got {value!r}")
        if value and not _is_utf8(value):
            raise AnnotationError(f"{where}.{key} {value!r} is not valid UTF-8")
        urls[key] = value or ""
    for key in ("width", "height"):  # informational (the image itself is measured)
        value = record.get(key)
        if value is not None and not (_is_int(value) and value >= 0):
            raise AnnotationError(f"{where}.{key} must be a non-negative integer, got {value!r}")
    return ImageRecord(image_id, file_name, **urls)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:  # lone surrogates: undecodable bytes or a bad \ud800 escape
        return False


def _check_unique_ids(name: str, images: list[ImageRecord]) -> None:
    first_index: dict[int, int] = {}
    for index, image in enumerate(images):
        if image.image_id in first_index:
            raise AnnotationError(
                f"{name}: image id {image.image_id} appears twice in images[] "
                f"(images[{first_index[image.image_id]}] and images[{index}]); "
                "refusing to guess which one is meant"
            )
        first_index[image.image_id] = index


def _caption(record: object, known_ids: set[int]) -> tuple[object, str, str]:
    """(image id, cleaned caption, skip reason or '')."""
    if not isinstance(record, dict):
        return None, "", INVALID_RECORD
    image_id, caption = record.get("image_id"), record.get("caption")
    if not _is_int(image_id) or not isinstance(caption, str):
        return image_id, "", INVALID_RECORD
    if image_id not in known_ids:
        return image_id, "", UNKNOWN_IMAGE_ID
    if not _is_utf8(caption):
        return image_id, "", NON_UTF8
    if not caption:
        return image_id, "", EMPTY
    cleaned = caption.strip()
    if not cleaned:
        return image_id, "", WHITESPACE_ONLY
    return image_id, cleaned, ""
