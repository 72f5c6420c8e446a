"""On-device search through the TFLite Task Library, as a phone does it: TF-free.

The one place that opens searcher/embedder .tflite files, checks them first so a bad
file gets a message naming it and the problem, refuses queries the device could only
answer arbitrarily, and turns Task Library results into `Hit`s. The SearcherBuilder's
checks, the SearcherValidator and `t2i search` all use it.

Task Library imports happen inside the functions, after `block_tensorflow()`: importing
this module is cheap and safe anywhere, calling the Task Library is only possible in a
process without TensorFlow (docs/STACK.md §3).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import zipfile
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from components.common import bert_tokenizer, item_metadata, tokenizer
from components.common.tf_free import block_tensorflow

# The associated file holding the on-device ScaNN index (the name Model Maker used).
INDEX_FILE_NAME = "on_device_scann_index.ldb"
VOCAB_FILE_NAME = "vocab.txt"
_TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier at bytes 4..8


class SearcherFileError(ValueError):
    """A searcher/encoder file is missing or unusable; the message names it."""


class QueryError(ValueError):
    """A query the searcher cannot answer meaningfully (empty, or only unknown words)."""


@dataclass(frozen=True)
class Hit:
    rank: int
    similarity: float  # minus the Task Library's distance, clipped to [-1, 1]: larger is closer
    metadata: bytes
    item: item_metadata.ItemMetadata | None  # None when the metadata does not parse

    def to_dict(self) -> dict:
        out = {
            "rank": self.rank,
            "similarity": self.similarity,
            "metadata": self.metadata.decode("utf-8", "replace"),
        }
        if self.item is not None:
            out.update(
                image_id=self.item.image_id,
                file_name=self.item.file_name,
                flickr_id=self.item.flickr_id,
                flickr_url=self.item.flickr_url,
            )
        return out


# ---------------------------------------------------------------- file checks


def packed_file_names(path: str) -> list[str]:
    """Names of the associated files packed into a .tflite (it is also a zip)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except zipfile.BadZipFile:
        return []


def check_model_file(path: str, *, needs_index: bool, needs_vocab: bool = False) -> None:
    """Raises SearcherFileError unless `path` looks like a usable .tflite of that kind."""
    if not os.path.exists(path):
        raise SearcherFileError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise SearcherFileError(f"{path}: not a file")
    size = os.path.getsize(path)
    if size < 8:
        raise SearcherFileError(f"{path}: the file is empty or truncated ({size} bytes)")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] != _TFLITE_IDENTIFIER:
        raise SearcherFileError(
            f"{path}: not a TFLite model (no TFL3 identifier); "
            "the file is corrupt or of another kind"
        )
    names = packed_file_names(path)
    if names:
        _check_packed_crcs(path)
    if needs_index and INDEX_FILE_NAME not in names:
        raise SearcherFileError(
            f"{path}: no on-device index packed in the model (no {INDEX_FILE_NAME}); "
            "it is not a searcher made by SearcherBuilder, or its end was cut off"
        )
    if needs_vocab:
        info = text_tokenizer(path)
        if info.file_name not in names:
            raise SearcherFileError(
                f"{path}: no {info.file_name} packed in the model; the text "
                "tokenizer metadata is missing or the file is truncated"
            )


@dataclass(frozen=True)
class TokenizerInfo:
    """The tokenizer a text model's metadata names: regex | wordpiece | sentencepiece."""

    kind: str
    file_name: str


_TOKENIZER_KINDS = {
    "RegexTokenizerOptions": "regex",
    "BertTokenizerOptions": bert_tokenizer.WORDPIECE,
    "SentencePieceTokenizerOptions": bert_tokenizer.SENTENCEPIECE,
}


def text_tokenizer(path: str) -> TokenizerInfo:
    """Reads the tokenizer from the model's metadata: the regex tokenizer on the input
    tensor, or the BERT layout's subgraph-level WordPiece / SentencePiece unit."""
    import json

    block_tensorflow()
    from tensorflow_lite_support.metadata.python import metadata as tflite_metadata

    try:
        with native_stderr_silenced():
            displayer = tflite_metadata.MetadataDisplayer.with_model_file(path)
        subgraph = json.loads(displayer.get_metadata_json())["subgraph_metadata"][0]
    except (ValueError, KeyError, IndexError) as e:
        raise SearcherFileError(
            f"{path}: no readable TFLite metadata ({e}); export the text "
            "model with TextEncoderExporter"
        ) from e
    units = list(subgraph.get("input_process_units", []))
    for tensor in subgraph.get("input_tensor_metadata", []):
        units += tensor.get("process_units", [])
    for unit in units:
        kind = _TOKENIZER_KINDS.get(unit.get("options_type", ""))
        if kind is None:
            continue
        options = unit.get("options", {})
        files = options.get("sentencePiece_model") or options.get("vocab_file") or []
        if files:
            return TokenizerInfo(kind, files[0]["name"])
    raise SearcherFileError(
        f"{path}: the metadata names no text tokenizer (regex, WordPiece or "
        "SentencePiece); it is not a text model made by TextEncoderExporter"
    )


def _check_packed_crcs(path: str) -> None:
    """Packed files carry zip CRC-32s: a damaged index or vocabulary shows up here with
    its name, instead of as a LevelDB or tokenizer error (or wrong results) later."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise SearcherFileError(f"{path}: the packed files are unreadable: {e}") from e
    if damaged is not None:
        raise SearcherFileError(f"{path}: packed file {damaged} is corrupt (CRC mismatch)")


def read_packed_file(path: str, name: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read(name)
    except (zipfile.BadZipFile, KeyError) as e:
        raise SearcherFileError(f"{path}: cannot read packed file {name}: {e}") from e


def read_vocab(path: str) -> dict[str, int]:
    """The regex tokenizer's vocabulary packed in a text model."""
    raw = read_packed_file(path, VOCAB_FILE_NAME).decode("utf-8")
    table = {}
    for line in raw.splitlines():
        token, _, token_id = line.rpartition(" ")
        if token and token_id.isdigit():
            table[token] = int(token_id)
    return table


def query_check(path: str) -> Callable[[str], None]:
    """What refuses a query for the text model at `path`: a regex-tokenized model refuses
    empty queries and queries made only of unknown words; a BERT-layout model (subword
    tokenizer: no word is unknown) refuses queries with no token at all."""
    info = text_tokenizer(path)
    if info.kind == "regex":
        vocab = read_vocab(path)
        return lambda text: check_query(text, vocab)
    return _check_has_subwords


def _check_has_subwords(text: str) -> None:
    if not text.strip():
        raise QueryError("the query is empty (it has no words)")


def sample_query(path: str) -> str:
    """A query the text model at `path` understands (for smoke checks)."""
    if text_tokenizer(path).kind == "regex":
        return next((t for t in read_vocab(path) if not t.startswith("<")), "")
    return "a photo"


def check_query(text: str, vocab: dict[str, int]) -> None:
    """Refuses queries the device would answer with the embedding of no words at all."""
    pieces = tokenizer.split(text)
    if not pieces:
        raise QueryError("the query is empty (it has no words)")
    unknown = [p for p in pieces if p not in vocab]
    if len(unknown) == len(pieces):
        shown = ", ".join(repr(p) for p in unknown[:8])
        raise QueryError(
            f"no word of the query is in the model's vocabulary ({shown}); "
            "results would be arbitrary"
        )


# ---------------------------------------------------------------- Task Library


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Silences the TFLite runtime's C-level stderr lines ("INFO: Created TensorFlow Lite
    XNNPACK delegate"), which Python's own redirection cannot reach."""
    if not enabled:
        yield
        return
    import faulthandler

    sys.stderr.flush()
    saved = os.dup(2)
    # A crash while silenced still shows its Python stack when faulthandler writes to stderr.
    faults_to_stderr = faulthandler.is_enabled() and bool(os.environ.get("PYTHONFAULTHANDLER"))
    try:
        if faults_to_stderr:
            faulthandler.enable(file=saved)
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        if faults_to_stderr:
            faulthandler.enable(file=sys.stderr)
        os.close(saved)


def _task_error(path: str, error: Exception) -> SearcherFileError:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return SearcherFileError(f"{path}: the Task Library cannot load it: {message}")


def _created(path: str, create: Callable):
    """What `create()` returns (a Task Library object for `path`), its native log lines
    silenced and its errors naming the file."""
    try:
        with native_stderr_silenced():
            return create()
    except (ValueError, RuntimeError) as e:
        raise _task_error(path, e) from e


def _search_options(path: str, max_results: int, index_file: str | None) -> dict:
    """The base and search options every Task Library searcher takes."""
    from tensorflow_lite_support.python.task.core import base_options
    from tensorflow_lite_support.python.task.processor.proto import search_options_pb2

    return {
        "base_options": base_options.BaseOptions(file_name=path),
        "search_options": search_options_pb2.SearchOptions(
            index_file_name=index_file, max_results=max_results
        ),
    }


def open_text_searcher(path: str, max_results: int = 5, index_file: str | None = None):
    check_model_file(path, needs_index=index_file is None, needs_vocab=True)
    block_tensorflow()
    from tensorflow_lite_support.python.task.text import text_searcher

    options = text_searcher.TextSearcherOptions(**_search_options(path, max_results, index_file))
    return _created(path, lambda: text_searcher.TextSearcher.create_from_options(options))


def open_image_searcher(path: str, max_results: int = 5, index_file: str | None = None):
    check_model_file(path, needs_index=index_file is None)
    block_tensorflow()
    from tensorflow_lite_support.python.task.vision import image_searcher

    options = image_searcher.ImageSearcherOptions(**_search_options(path, max_results, index_file))
    return _created(path, lambda: image_searcher.ImageSearcher.create_from_options(options))


def open_text_embedder(path: str):
    check_model_file(path, needs_index=False, needs_vocab=True)
    block_tensorflow()
    from tensorflow_lite_support.python.task.text import text_embedder

    return _created(path, lambda: text_embedder.TextEmbedder.create_from_file(path))


def open_image_embedder(path: str):
    check_model_file(path, needs_index=False)
    block_tensorflow()
    from tensorflow_lite_support.python.task.vision import image_embedder

    return _created(path, lambda: image_embedder.ImageEmbedder.create_from_file(path))


def tensor_image(pixels_or_path):
    """A Task Library image from an RGB uint8 array [H, W, 3] or an image file path.

    tflite-support 0.4.4's `TensorImage.create_from_array` cannot be used: its pybind
    `ImageData` keeps only a raw pointer to the numpy buffer (no reference), and it passes
    a temporary `np.squeeze(array)`, so once the caller's array is freed the searcher reads
    freed memory: a segfault for most photo sizes (large buffers are unmapped on free) and
    silently wrong pixels for others. The squeeze also turns a 1-pixel-high or -wide image
    into a 2-D or 1-D array that it rejects or misreads. Here the TensorImage gets a
    C-contiguous [H, W, 3] copy that it owns (`_pixels`), so the buffer lives exactly as
    long as the image.
    """
    block_tensorflow()
    import numpy as np
    from tensorflow_lite_support.python.task.vision.core import tensor_image as ti
    from tensorflow_lite_support.python.task.vision.core.pybinds import image_utils

    pixels = read_rgb(pixels_or_path) if isinstance(pixels_or_path, str) else pixels_or_path
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or 0 in pixels.shape:
        raise ValueError(f"expected RGB pixels of shape [height, width, 3], got {pixels.shape}")
    image = ti.TensorImage(image_utils.ImageData(pixels), is_from_numpy_array=True)
    image._pixels = pixels  # the buffer ImageData points into: it must outlive the image
    return image


def read_rgb(path: str):
    """An image file's pixels as RGB uint8 [H, W, 3]; ValueError naming the file otherwise."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such image file")
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as e:
        raise ValueError(f"{path}: refused as a decompression bomb: {e}") from e
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: not a readable image: {e}") from e


def hits(result) -> list[Hit]:
    """Task Library SearchResult -> Hits, best first."""
    out = []
    for rank, neighbor in enumerate(result.nearest_neighbors, start=1):
        raw = bytes(neighbor.metadata)
        try:
            item = item_metadata.decode(raw)
        except item_metadata.MetadataError:
            item = None
        # Scores are dot products of unit vectors, computed by ScaNN from int8-quantized
        # values: they can overshoot 1 by a little (1.0018 was seen), which no cosine can.
        similarity = min(1.0, max(-1.0, -float(neighbor.distance)))
        out.append(Hit(rank, similarity, raw, item))
    return out


def search_text(searcher, text: str) -> list[Hit]:
    return hits(searcher.search(text))


def search_image(searcher, image) -> list[Hit]:
    return hits(searcher.search(tensor_image(image)))


def embedding_of(result):
    """The first output's float vector of a Task Library EmbeddingResult, as numpy."""
    import numpy as np

    return np.asarray(result.embeddings[0].feature_vector.value, dtype=np.float32)


def timed_map(function: Callable, inputs: Sequence) -> tuple[list, list[float]]:
    """Calls `function` on each input; returns the results and each call's milliseconds."""
    results, millis = [], []
    for value in inputs:
        start = time.perf_counter()
        results.append(function(value))
        millis.append((time.perf_counter() - start) * 1000.0)
    return results, millis


def percentile_ms(millis: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(millis), q)) if len(millis) else float("nan")
