"""The per-item metadata string the searcher returns with every result.

Task Library results carry only metadata and distance, never the row index, so the
metadata must identify the image. Two layouts:

- ``flickr_path`` (default): ``<flickr id>_<image path>``, what the seeds' client reads:
  it splits on "_", takes ``[0]`` as the Flickr id and ``"_".join([1:])`` as the path, so
  the path may itself contain "_". An image without a Flickr id gives ``_<image path>``
  (the client then prints a link with an empty id; the path is still right).
- ``id_flickr_file``: ``<image id>|<flickr id>|<file name>``, the earlier layout, with the
  image id in the metadata (the file name goes last so it may contain "|").

The image path is relative to the collection root and unique in it; our own tools map it
back to the image id through the collection's annotations (pipeline/catalog.py) when the
metadata does not carry the id. TF-free: the on-device search CLI parses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FLICKR_PATH = "flickr_path"
ID_FLICKR_FILE = "id_flickr_file"
LAYOUTS = (FLICKR_PATH, ID_FLICKR_FILE)
DEFAULT_LAYOUT = FLICKR_PATH

_FLICKR_ID = re.compile(r"staticflickr\.com/(?:\d+/)+(\d+)_")
_ID_FLICKR_FILE = re.compile(r"^(\d+)\|(\d*)\|(.+)$", re.DOTALL)
_FLICKR_PATH = re.compile(r"^(\d*)_(.+)$", re.DOTALL)


class MetadataError(ValueError):
    pass


@dataclass(frozen=True)
class ItemMetadata:
    image_id: int | None  # None when the layout does not carry it (flickr_path)
    file_name: str
    flickr_id: str = ""

    def encode(self, layout: str = DEFAULT_LAYOUT) -> bytes:
        check_layout(layout)
        if layout == ID_FLICKR_FILE:
            if self.image_id is None:
                raise MetadataError(
                    f"{self.file_name}: the {ID_FLICKR_FILE} layout needs an image id"
                )
            return f"{self.image_id}|{self.flickr_id}|{self.file_name}".encode("utf-8")
        return f"{self.flickr_id}_{self.file_name}".encode("utf-8")

    @property
    def flickr_url(self) -> str:
        return flickr_photo_url(self.flickr_id)


def check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise MetadataError(
            f"item metadata layout must be one of {', '.join(LAYOUTS)}, got {layout!r}"
        )


def decode(raw: bytes) -> ItemMetadata:
    """Either layout; ``<digits>|<digits>|...`` is the id layout, anything else with a
    ``<digits>_`` (or ``_``) prefix the Flickr/path layout."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MetadataError(f"item metadata {raw[:80]!r} is not UTF-8") from e
    if match := _ID_FLICKR_FILE.match(text):
        return ItemMetadata(int(match.group(1)), match.group(3), match.group(2))
    if match := _FLICKR_PATH.match(text):
        return ItemMetadata(None, match.group(2), match.group(1))
    raise MetadataError(
        f"item metadata {raw[:80]!r} is neither <flickr id>_<image path> "
        "nor <image id>|<flickr id>|<file>"
    )


def flickr_photo_url(flickr_id: str) -> str:
    """The photo's page on Flickr, or '' without an id."""
    return f"https://www.flickr.com/photo.gne?id={flickr_id}" if flickr_id else ""


def flickr_id_from_url(url: str) -> str:
    """The photo id in a Flickr static URL (as COCO's flickr_url has), or ''."""
    match = _FLICKR_ID.search(url or "")
    return match.group(1) if match else ""
