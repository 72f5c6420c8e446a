"""`t2i serve`: the searcher and the run history in a browser, and as a JSON API.

FastAPI (with its OpenAPI description at /openapi.json and /docs) over:
- searchers.VersionSearchers: every pushed version through the real Task Library
  (TextSearcher on searcher.tflite, ImageSearcher on image_searcher.tflite);
- catalog: image id, captions and Flickr link of each result, from the collection the
  version's run ingested;
- records, t2i.lineage, t2i.report: ML Metadata and the pipeline root.

The process is TF-free (the Task Library cannot share a process with TensorFlow). Files are
served only from inside the collections the pushed versions index (images, looked up in
their catalog, never by joining a path from the URL) and the pipeline root (run reports,
by run id known to ML Metadata).
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from components.common import device_search
from t2i import catalog as catalog_lib
from t2i.lineage import diff as lineage_diff
from t2i.lineage import graph as lineage_graph
from t2i.lineage import render as lineage_render
from t2i.web import records
from t2i.web.searchers import MAX_K, Answer, VersionError, VersionSearchers

TEMPLATES = Jinja2Templates(directory=os.path.join(os.path.dirname(__file__), "templates"))
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_PIXELS = 40_000_000
DEFAULT_K = 10

K = Annotated[int, Query(ge=1, le=MAX_K, description=f"Number of results (1-{MAX_K}).")]
VERSION = Annotated[int | None, Query(ge=1, description="A pushed version (default: latest).")]


@dataclass
class ServeSettings:
    root: str  # the pipeline root: metadata.sqlite, reports/
    serving_dir: str  # the pushed versions
    data_dir: str  # the collection when a run recorded none


def create_app(settings: ServeSettings) -> FastAPI:
    app = FastAPI(
        title="t2i-searcher",
        version="1",
        description="Text-to-image search through the pushed on-device searchers "
        "(TFLite Task Library), and the pipeline's run history.",
    )
    searchers = VersionSearchers(settings.serving_dir)
    catalogs = catalog_lib.CatalogCache()

    def version_or_latest(version: int | None) -> int:
        try:
            if version is None:
                return searchers.latest()
            searchers.version_dir(version)
            return version
        except VersionError as e:
            raise HTTPException(404, str(e)) from e

    collections: dict[int, dict] = {}  # a pushed version never changes: looked up once

    def catalog_of(version: int) -> catalog_lib.Catalog | None:
        try:
            if version not in collections:
                collections[version] = catalog_lib.collection_of_version(
                    searchers.version_dir(version), settings.root, settings.data_dir
                )
            data = collections[version]
            return catalogs.get(data["data_dir"], data["annotations_file"], data["image_dir"])
        except (VersionError, catalog_lib.CatalogError, OSError):
            return None  # results still show their metadata; captions are missing

    def results(answer: Answer) -> list[dict]:
        catalog = catalog_of(answer.version)
        out = []
        for hit in answer.hits:
            entry = catalog.item(hit.item) if catalog else None
            row = {
                "rank": hit.rank,
                "similarity": round(hit.similarity, 4),
                "metadata": hit.metadata.decode("utf-8", "replace"),
                "image_id": hit.item.image_id if hit.item else None,
                "file_name": hit.item.file_name if hit.item else None,
                "flickr_url": hit.item.flickr_url if hit.item else "",
                "captions": [],
                "image_url": None,
            }
            if entry is not None:
                row.update(
                    image_id=entry.image_id,
                    captions=list(entry.captions),
                    flickr_url=entry.flickr_url or row["flickr_url"],
                    image_url=f"/images/{answer.version}/{entry.file_name}",
                )
            out.append(row)
        return out

    def text_search(q: str, k: int, version: int | None) -> dict:
        if not q.strip():
            raise HTTPException(400, "the query is empty: give q=some words")
        version = version_or_latest(version)
        started = time.perf_counter()
        words = searchers.query_words(version, q)
        try:
            answer = searchers.search_text(version, q, k)
        except device_search.QueryError as e:
            raise HTTPException(400, str(e)) from e
        except device_search.SearcherFileError as e:
            raise HTTPException(500, str(e)) from e
        warning = ""
        if words.mostly_unknown:
            warning = (
                f"{len(words.unknown)} of the query's {len(words.words)} words are unknown "
                f"to the model's tokenizer ({', '.join(words.unknown[:8])}); the results "
                "follow the other words only"
            )
        return {
            "query": q,
            "version": version,
            "k": k,
            "unknown_words": words.unknown,
            "warning": warning,
            "search_ms": round(answer.search_ms, 3),
            "results": results(answer),
            "server_ms": round((time.perf_counter() - started) * 1000.0, 3),
        }

    def image_search(pixels, k: int, version: int, label: str) -> dict:
        started = time.perf_counter()
        try:
            answer = searchers.search_image(version, pixels, k)
        except device_search.SearcherFileError as e:
            raise HTTPException(500, str(e)) from e
        return {
            "image": label,
            "version": version,
            "k": k,
            "search_ms": round(answer.search_ms, 3),
            "results": results(answer),
            "server_ms": round((time.perf_counter() - started) * 1000.0, 3),
        }

    def similar_search(path: str, k: int, version: int | None) -> dict:
        version = version_or_latest(version)
        catalog = catalog_of(version)
        entry = catalog.by_file.get(path) if catalog else None
        if entry is None:
            raise HTTPException(404, f"{path!r} is no image of version {version}'s collection")
        return image_search(_pixels_of_file(entry.path), k, version, entry.file_name)

    async def upload_search(file: UploadFile, k: int, version: int | None) -> dict:
        version = version_or_latest(version)
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise HTTPException(413, f"{file.filename}: larger than {MAX_UPLOAD_BYTES} bytes")
        return image_search(
            _pixels_of_upload(file.filename or "upload", data),
            k,
            version,
            file.filename or "upload",
        )

    # ------------------------------------------------------------------ JSON API

    @app.get("/api/versions", tags=["search"])
    def api_versions() -> list[dict]:
        """Every pushed version with what version.json says about it."""
        return [searchers.info(v) for v in searchers.versions()]

    @app.get("/api/search", tags=["search"])
    def api_search(
        q: Annotated[str, Query(max_length=1000, description="The query text.")],
        k: K = DEFAULT_K,
        version: VERSION = None,
    ) -> dict:
        """Text search through the version's searcher.tflite (TextSearcher)."""
        return text_search(q, k, version)

    @app.get("/api/similar", tags=["search"])
    def api_similar(
        path: Annotated[str, Query(max_length=1000, description="An indexed image's file name.")],
        k: K = DEFAULT_K,
        version: VERSION = None,
    ) -> dict:
        """ "More like this": an indexed image through image_searcher.tflite (ImageSearcher)."""
        return similar_search(path, k, version)

    @app.post("/api/search/image", tags=["search"])
    async def api_search_image(
        file: Annotated[UploadFile, File(description="An image file.")],
        k: Annotated[int, Form(ge=1, le=MAX_K)] = DEFAULT_K,
        version: Annotated[int | None, Form(ge=1)] = None,
    ) -> dict:
        """Image search with an uploaded image through image_searcher.tflite."""
        return await upload_search(file, k, version)

    @app.get("/api/runs", tags=["runs"])
    def api_runs() -> list[dict]:
        """Pipeline runs, newest first: state, duration, pushed version, key figures."""
        return records.runs(_store(settings))

    @app.get("/api/lineage", tags=["runs"])
    def api_lineage(
        target: Annotated[
            str,
            Query(
                max_length=200, description=("An artifact id, a version (v3), latest, or a run id.")
            ),
        ] = "latest",
        downstream: bool = False,
    ) -> dict:
        """The provenance graph of a target as JSON (artifacts, executions, edges)."""
        return lineage_render.to_json(_trace(settings, target, downstream))

    @app.get("/api/diff", tags=["runs"])
    def api_diff(
        a: Annotated[str, Query(max_length=50)], b: Annotated[str, Query(max_length=50)]
    ) -> dict:
        """What differs between the provenance of two pushed versions (1, v1, latest, or a
        run id: the version that run pushed)."""
        return lineage_diff.to_json(_diff(settings, a, b))

    # ------------------------------------------------------------------ files

    @app.get("/images/{version}/{path:path}", include_in_schema=False)
    def image_file(version: int, path: str) -> FileResponse:
        version = version_or_latest(version)
        catalog = catalog_of(version)
        entry = catalog.by_file.get(path) if catalog else None
        if catalog is None or entry is None or not _inside(entry.path, catalog.data_dir):
            raise HTTPException(404, f"{path!r} is no image of version {version}'s collection")
        if not os.path.isfile(entry.path):
            raise HTTPException(404, f"{entry.path}: the image file is missing")
        return FileResponse(entry.path)

    # The report's own links to the previous and next run are relative (<run id>.html),
    # so it is served under the same name it has in <root>/reports/.
    @app.get("/reports/{run_id}.html", include_in_schema=False)
    def run_report(run_id: str) -> FileResponse:
        store = _store(settings)
        run_id = _known_run(store, run_id)
        path = records.report_path(settings.root, run_id)
        if not os.path.isfile(path):
            from t2i import report

            path = report.write_report(settings.root, run_id)
        return FileResponse(path, media_type="text/html")

    # ------------------------------------------------------------------ pages

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def search_page(
        request: Request,
        q: Annotated[str, Query(max_length=1000)] = "",
        k: K = DEFAULT_K,
        version: VERSION = None,
        like: Annotated[str, Query(max_length=1000)] = "",
    ) -> HTMLResponse:
        versions = searchers.versions()
        context: dict[str, Any] = {
            "q": q,
            "k": k,
            "like": like,
            "versions": versions,
            "version": version,
            "answer": None,
            "error": "",
        }
        if versions and (q or like):
            try:
                context["answer"] = (
                    similar_search(like, k, version) if like else text_search(q, k, version)
                )
            except HTTPException as e:
                context["error"] = e.detail
        if not versions:
            context["error"] = f"{settings.serving_dir}: nothing pushed yet; run `t2i run` first"
        if context["answer"]:
            context["version"] = context["answer"]["version"]
        status = 200 if not context["error"] or not (q or like) else 400
        return TEMPLATES.TemplateResponse(request, "search.html", context, status_code=status)

    @app.post("/search/image", response_class=HTMLResponse, include_in_schema=False)
    async def upload_page(
        request: Request,
        file: Annotated[UploadFile, File()],
        k: Annotated[int, Form(ge=1, le=MAX_K)] = DEFAULT_K,
        version: Annotated[int | None, Form(ge=1)] = None,
    ) -> HTMLResponse:
        context: dict[str, Any] = {
            "q": "",
            "k": k,
            "like": "",
            "versions": searchers.versions(),
            "version": version,
            "answer": None,
            "error": "",
        }
        try:
            context["answer"] = await upload_search(file, k, version)
            context["version"] = context["answer"]["version"]
        except HTTPException as e:
            context["error"] = e.detail
        return TEMPLATES.TemplateResponse(
            request, "search.html", context, status_code=400 if context["error"] else 200
        )

    @app.get("/runs", response_class=HTMLResponse, include_in_schema=False)
    def runs_page(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request,
            "runs.html",
            {"runs": records.runs(_store(settings)), "versions": searchers.versions()},
        )

    @app.get("/lineage", response_class=HTMLResponse, include_in_schema=False)
    def lineage_page(
        request: Request,
        target: Annotated[str, Query(max_length=200)] = "latest",
        downstream: bool = False,
    ) -> HTMLResponse:
        graph = _trace(settings, target, downstream)
        return TEMPLATES.TemplateResponse(
            request,
            "lineage.html",
            {
                "target": target,
                "downstream": downstream,
                "graph": graph,
                "svg": lineage_render.svg(graph),
                "properties": lineage_render.folded_properties(graph),
                "style": lineage_render.STYLE,
            },
        )

    @app.get("/diff", response_class=HTMLResponse, include_in_schema=False)
    def diff_page(
        request: Request,
        a: Annotated[str, Query(max_length=50)],
        b: Annotated[str, Query(max_length=50)],
    ) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(request, "diff.html", {"diff": _diff(settings, a, b)})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": error.detail}, status_code=error.status_code)
        return HTMLResponse(
            TEMPLATES.get_template("error.html").render(
                status=error.status_code, message=error.detail
            ),
            status_code=error.status_code,
        )

    return app


def _store(settings: ServeSettings):
    try:
        return records.open_store(settings.root)
    except records.RecordsError as e:
        raise HTTPException(404, str(e)) from e


def _known_run(store, run_id: str) -> str:
    try:
        return records.check_run_id(store, run_id)
    except records.RecordsError as e:
        raise HTTPException(404, str(e)) from e


def _trace(settings: ServeSettings, target: str, downstream: bool) -> lineage_graph.Lineage:
    store = _store(settings)
    try:
        return lineage_graph.trace(
            store, lineage_graph.resolve_target(store, target), downstream=downstream
        )
    except lineage_graph.LineageError as e:
        raise HTTPException(404, str(e)) from e


def _diff(settings: ServeSettings, a: str, b: str) -> lineage_diff.VersionDiff:
    store = _store(settings)
    try:
        return lineage_diff.diff_versions(
            store, lineage_diff.version_spec(store, a), lineage_diff.version_spec(store, b)
        )
    except lineage_graph.LineageError as e:
        raise HTTPException(404, str(e)) from e


def _inside(path: str, folder: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, base]) == base


def _pixels_of_file(path: str):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise HTTPException(500, f"{path}: not a readable image: {e}") from e


def _pixels_of_upload(name: str, data: bytes):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_UPLOAD_PIXELS:
                raise HTTPException(
                    413,
                    f"{name}: {image.width}x{image.height} pixels is more than {MAX_UPLOAD_PIXELS}",
                )
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError as e:
        raise HTTPException(
            400, f"{name}: not a readable image (not a format Pillow knows, or not an image at all)"
        ) from e
    except (OSError, Image.DecompressionBombError) as e:
        raise HTTPException(400, f"{name}: not a readable image: {e}") from e
