"""`t2i search`: query a searcher.tflite from the command line, TF-free, as a phone would.

Text queries go through the Task Library TextSearcher on searcher.tflite, image queries
(`--image`) through ImageSearcher on image_searcher.tflite. It never imports TensorFlow
or TFX, so a query answers in about a second, process start included. `--searcher`
takes a file, a directory holding the file (a pushed version or a Searcher artifact),
or "latest": the newest version under the pusher's serving_dir.
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass

from components.common import device_search, formats, serving
from components.common.device_search import Hit, QueryError, SearcherFileError
from t2i.paths import DEFAULT_ROOT, SERVING_DIR

LATEST = serving.LATEST


class SearchError(ValueError):
    """Anything the user should read as one line: bad file, bad query, bad option."""


@dataclass
class SearchRequest:
    query: str | None
    image: str | None = None
    k: int = 5
    searcher: str = LATEST
    serving_dir: str = os.path.join(DEFAULT_ROOT, SERVING_DIR)


def resolve_searcher(spec: str, serving_dir: str, image: bool) -> str:
    name = formats.IMAGE_SEARCHER_TFLITE if image else formats.SEARCHER_TFLITE
    if spec == LATEST or (spec.isdigit() and not os.path.exists(spec)):
        try:
            return os.path.join(serving.resolve(serving_dir, spec), name)
        except serving.ServingError as e:
            raise SearchError(f"{e} (or pass --searcher PATH)") from e
    if os.path.isdir(spec):
        return os.path.join(spec, name)
    if image and os.path.basename(spec) == formats.SEARCHER_TFLITE:
        return os.path.join(os.path.dirname(spec), name)  # its image twin, pushed alongside
    return spec


def search(request: SearchRequest) -> tuple[str, list[Hit]]:
    """(searcher path, hits best first). Raises SearchError with a readable message."""
    if request.image and request.query is not None:
        raise SearchError("give either a query text or --image, not both")
    path = resolve_searcher(request.searcher, request.serving_dir, image=bool(request.image))
    try:
        if request.image:
            searcher = device_search.open_image_searcher(path, max_results=request.k)
            with device_search.native_stderr_silenced():
                return path, device_search.search_image(searcher, request.image)
        device_search.check_model_file(path, needs_index=True, needs_vocab=True)
        device_search.query_check(path)(request.query or "")
        searcher = device_search.open_text_searcher(path, max_results=request.k)
        with device_search.native_stderr_silenced():
            return path, device_search.search_text(searcher, request.query or "")
    except (SearcherFileError, QueryError) as e:
        raise SearchError(str(e)) from e
    except (FileNotFoundError, ValueError) as e:  # an unreadable --image file
        raise SearchError(str(e)) from e


def format_table(hits: list[Hit]) -> str:
    lines = [f"{'rank':>4}  {'similarity':>10}  {'image id':>10}  file / flickr"]
    for hit in hits:
        if hit.item is None:
            lines.append(f"{hit.rank:>4}  {hit.similarity:>10.4f}  {'?':>10}  "
                         f"{hit.metadata.decode('utf-8', 'replace')}")
            continue
        lines.append(f"{hit.rank:>4}  {hit.similarity:>10.4f}  {hit.item.image_id:>10}  "
                     f"{hit.item.file_name}")
        if hit.item.flickr_url:
            lines.append(f"{'':>30}{hit.item.flickr_url}")
    if not hits:
        lines.append("(no results)")
    return "\n".join(lines)


def format_json(request: SearchRequest, path: str, hits: list[Hit]) -> str:
    return json.dumps({"query": request.query, "image": request.image, "searcher": path,
                       "results": [hit.to_dict() for hit in hits]}, indent=2, ensure_ascii=False)


def find_image(file_name: str, images_dir: str) -> str | None:
    """An item's image file under the collection root (or one of its span-<N>/ folders)."""
    candidates = [os.path.join(images_dir, file_name)]
    candidates += sorted(glob.glob(os.path.join(glob.escape(images_dir), "span-*", glob.escape(file_name))))
    return next((c for c in candidates if os.path.isfile(c)), None)


def contact_sheet(hits: list[Hit], images_dir: str, out_path: str, tile: int = 224,
                  columns: int = 5) -> list[str]:
    """Writes a PNG grid titled "rank: similarity" per image; returns missing file names."""
    from PIL import Image, ImageDraw

    title_height = 22
    rows = max(1, -(-len(hits) // columns))
    sheet = Image.new("RGB", (columns * tile, rows * (tile + title_height)), "white")
    draw = ImageDraw.Draw(sheet)
    missing = []
    for i, hit in enumerate(hits):
        x, y = (i % columns) * tile, (i // columns) * (tile + title_height)
        draw.text((x + 4, y + 4), f"{hit.rank}: {hit.similarity:.3f}", fill="black")
        path = find_image(hit.item.file_name, images_dir) if hit.item else None
        if path is None:
            missing.append(hit.item.file_name if hit.item else hit.metadata.decode("utf-8", "replace"))
            draw.rectangle([x + 4, y + title_height, x + tile - 4, y + title_height + tile - 8],
                           outline="gray")
            draw.text((x + 10, y + title_height + tile // 2), "image not found", fill="gray")
            continue
        with Image.open(path) as opened:
            image = opened.convert("RGB")
            image.thumbnail((tile - 8, tile - 8))
            sheet.paste(image, (x + 4, y + title_height))
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    sheet.save(out_path)
    return missing
