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
from t2i import catalog as catalog_lib
from t2i.catalog import Catalog
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
    if not request.image:
        return path, _searched_texts(path, [request.query or ""], request.k)[0]
    try:
        searcher = device_search.open_image_searcher(path, max_results=request.k)
        with device_search.native_stderr_silenced():
            return path, device_search.search_image(searcher, request.image)
    except (SearcherFileError, QueryError) as e:
        raise SearchError(str(e)) from e
    except (FileNotFoundError, ValueError) as e:  # an unreadable --image file
        raise SearchError(str(e)) from e


def read_queries(path: str) -> list[str]:
    """A queries file: one query a line, blank lines skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise SearchError(f"{path}: cannot read the queries file ({e})") from e


def search_texts(
    request: SearchRequest, queries: list[str], source: str
) -> tuple[str, list[list[Hit]]]:
    """(searcher path, hits per query): several text queries through one TextSearcher,
    opened once (a searcher with a 90 MB text encoder takes seconds to open). Every query is
    checked before any is searched; a refused one raises SearchError naming `source`, the
    query and its position."""
    path = resolve_searcher(request.searcher, request.serving_dir, image=False)
    if not queries:
        raise SearchError(f"{source}: no queries (one query a line)")
    return path, _searched_texts(path, queries, request.k, source)


def _searched_texts(path: str, queries: list[str], k: int, source: str = "") -> list[list[Hit]]:
    try:
        device_search.check_model_file(path, needs_index=True, needs_vocab=True)
        check = device_search.query_check(path)
        for number, query in enumerate(queries, 1):
            try:
                check(query)
            except QueryError as e:
                if not source:
                    raise
                raise QueryError(f"{source}: query {number} ({query!r}): {e}") from e
        searcher = device_search.open_text_searcher(path, max_results=k)
        with device_search.native_stderr_silenced():
            return [device_search.search_text(searcher, query) for query in queries]
    except (SearcherFileError, QueryError) as e:
        raise SearchError(str(e)) from e


def catalog_for(
    searcher_path: str, root: str, data_dir: str, recorded_first: bool = True
) -> Catalog | None:
    """The catalog of the collection the searcher indexes: the one its pushed version's run
    recorded (else `data_dir`), or `data_dir` itself when not `recorded_first`. None when
    it cannot be read: results then show their metadata only."""
    try:
        if not recorded_first:
            return catalog_lib.load(data_dir)
        data = catalog_lib.collection_of_version(os.path.dirname(searcher_path), root, data_dir)
        return catalog_lib.load(data["data_dir"], data["annotations_file"], data["image_dir"])
    except (catalog_lib.CatalogError, OSError):
        return None


def format_table(hits: list[Hit], catalog: Catalog | None = None) -> str:
    lines = [f"{'rank':>4}  {'similarity':>10}  {'image id':>10}  file / flickr / first caption"]
    for hit in hits:
        if hit.item is None:
            lines.append(
                f"{hit.rank:>4}  {hit.similarity:>10.4f}  {'?':>10}  "
                f"{hit.metadata.decode('utf-8', 'replace')}"
            )
            continue
        entry = catalog.item(hit.item) if catalog else None
        image_id = entry.image_id if entry else hit.item.image_id
        lines.append(
            f"{hit.rank:>4}  {hit.similarity:>10.4f}  "
            f"{'?' if image_id is None else image_id:>10}  {hit.item.file_name}"
        )
        if hit.item.flickr_url:
            lines.append(f"{'':>30}{hit.item.flickr_url}")
        if entry and entry.captions:
            lines.append(f'{"":>30}"{entry.captions[0]}"')
    if not hits:
        lines.append("(no results)")
    return "\n".join(lines)


def format_json(
    request: SearchRequest, path: str, hits: list[Hit], catalog: Catalog | None = None
) -> str:
    return json.dumps(
        {
            "query": request.query,
            "image": request.image,
            "searcher": path,
            "results": _json_results(hits, catalog),
        },
        indent=2,
        ensure_ascii=False,
    )


def format_json_many(
    path: str, queries: list[str], hits: list[list[Hit]], catalog: Catalog | None = None
) -> str:
    """Several queries' results: {"searcher", "queries": [{"query", "results"}, ...]}."""
    return json.dumps(
        {
            "searcher": path,
            "queries": [
                {"query": query, "results": _json_results(query_hits, catalog)}
                for query, query_hits in zip(queries, hits)
            ],
        },
        indent=2,
        ensure_ascii=False,
    )


def _json_results(hits: list[Hit], catalog: Catalog | None) -> list[dict]:
    results = []
    for hit in hits:
        row = hit.to_dict()
        entry = catalog.item(hit.item) if catalog else None
        if entry is not None:
            row.update(image_id=entry.image_id, captions=list(entry.captions))
        results.append(row)
    return results


def find_image(file_name: str, images_dir: str) -> str | None:
    """An item's image file under the collection root (or one of its span-<N>/ folders)."""
    candidates = [os.path.join(images_dir, file_name)]
    candidates += sorted(
        glob.glob(os.path.join(glob.escape(images_dir), "span-*", glob.escape(file_name)))
    )
    return next((c for c in candidates if os.path.isfile(c)), None)


def contact_sheet(
    hits: list[Hit],
    images_dir: str,
    out_path: str,
    title: str = "",
    catalog: Catalog | None = None,
    tile: int = 224,
    columns: int = 5,
) -> list[str]:
    """Writes a PNG grid of the results under `title` (the query): each tile the image
    (scaled to fill it) and "#rank  similarity  id <image id>" above its first caption.
    Up to `columns` columns, chosen to leave the fewest empty cells. Returns the file
    names it could not find."""
    from PIL import Image, ImageDraw, ImageFont, ImageOps

    font = ImageFont.load_default(size=13)
    title_font = ImageFont.load_default(size=18)
    header, caption_lines, line = 20, 2, 16
    cell_height = header + tile + caption_lines * line + 6
    title_height = 34 if title else 0
    columns = grid_columns(len(hits), columns)
    rows = max(1, -(-len(hits) // columns))
    sheet = Image.new("RGB", (columns * tile, title_height + rows * cell_height), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((8, 7), title, fill="black", font=title_font)
    missing = []
    for i, hit in enumerate(hits):
        x, y = (i % columns) * tile, title_height + (i // columns) * cell_height
        entry = catalog.item(hit.item) if catalog else None
        image_id = entry.image_id if entry else (hit.item.image_id if hit.item else None)
        label = f"#{hit.rank}  {hit.similarity:.3f}  id {'?' if image_id is None else image_id}"
        draw.text((x + 4, y + 3), label, fill="black", font=font)
        caption = entry.captions[0] if entry and entry.captions else ""
        for n, text in enumerate(_wrapped(draw, caption, font, tile - 8, caption_lines)):
            draw.text((x + 4, y + header + tile + n * line), text, fill="#333333", font=font)
        path = (entry.path if entry else None) or (
            find_image(hit.item.file_name, images_dir) if hit.item else None
        )
        if path is None or not os.path.isfile(path):
            missing.append(
                hit.item.file_name if hit.item else hit.metadata.decode("utf-8", "replace")
            )
            draw.rectangle([x + 4, y + header, x + tile - 4, y + header + tile - 8], outline="gray")
            draw.text((x + 10, y + header + tile // 2), "image not found", fill="gray", font=font)
            continue
        with Image.open(path) as opened:
            image = ImageOps.contain(opened.convert("RGB"), (tile - 8, tile - 8))
            sheet.paste(image, (x + 4 + (tile - 8 - image.width) // 2, y + header))
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    sheet.save(out_path)
    return missing


def grid_columns(count: int, most: int) -> int:
    """Columns for `count` tiles, at most `most`: the fewest empty cells in the last row,
    then the most columns (7 tiles: 4 columns, not 5 with 3 empty)."""
    if count <= most:
        return max(1, count)
    choices = range(max(1, -(-most // 2)), most + 1)
    return min(choices, key=lambda c: (-count % c, -c))


def _wrapped(draw, text: str, font, width: int, max_lines: int) -> list[str]:
    """`text` in lines that fit `width` pixels, at most `max_lines`, the last cut with "…"."""
    lines, current = [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=font) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        while lines[-1] and draw.textlength(lines[-1] + " …", font=font) > width:
            lines[-1] = lines[-1][:-1]
        lines[-1] += " …"
    return lines
