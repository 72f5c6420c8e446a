"""The per-item metadata string the searcher returns with every result.

Task Library results carry only metadata and distance, never the row index, so the
metadata must identify the image. Format: ``<image id>|<flickr id>|<file name>`` with
an empty flickr id when the data has none; the file name goes last so it may contain
"|". TF-free: the on-device search CLI parses it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_FLICKR_ID = re.compile(r"staticflickr\.com/(?:\d+/)+(\d+)_")


@dataclass(frozen=True)
class ItemMetadata:
    image_id: int
    file_name: str
    flickr_id: str = ""

    def encode(self) -> bytes:
        return f"{self.image_id}|{self.flickr_id}|{self.file_name}".encode("utf-8")

    @property
    def flickr_url(self) -> str:
        return f"https://www.flickr.com/photo.gne?id={self.flickr_id}" if self.flickr_id else ""


class MetadataError(ValueError):
    pass


def decode(raw: bytes) -> ItemMetadata:
    try:
        image_id, flickr_id, file_name = raw.decode("utf-8").split("|", 2)
        return ItemMetadata(int(image_id), file_name, flickr_id)
    except (UnicodeDecodeError, ValueError) as e:
        raise MetadataError(f"item metadata {raw[:80]!r} is not <image id>|<flickr id>|<file>") from e


def flickr_id_from_url(url: str) -> str:
    """The photo id in a Flickr static URL (as COCO's flickr_url has), or ''."""
    match = _FLICKR_ID.search(url or "")
    return match.group(1) if match else ""
