"""The pushed searchers, opened once per version through the Task Library, as a phone
opens them. TF-free: `t2i serve` runs in a process that never imports TensorFlow.

Each version's TextSearcher and ImageSearcher are created on first use with MAX_K results
and kept; a request for k results takes the first k. Task Library objects are not
documented as thread-safe, and the server answers requests from a thread pool, so each
searcher is used under its own lock.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from components.common import device_search, formats, serving, tokenizer
from components.common.device_search import Hit

MAX_K = 100


class VersionError(LookupError):
    """No such pushed version, or nothing pushed yet."""


@dataclass
class QueryWords:
    words: list[str]
    unknown: list[str]

    @property
    def mostly_unknown(self) -> bool:
        """More than half of the words are not in the tokenizer's vocabulary."""
        return bool(self.words) and len(self.unknown) * 2 > len(self.words)


@dataclass
class Answer:
    version: int
    hits: list[Hit]
    search_ms: float  # the Task Library call alone


class _Opened:
    def __init__(self, searcher) -> None:
        self.searcher = searcher
        self.lock = threading.Lock()


class VersionSearchers:
    def __init__(self, serving_dir: str) -> None:
        self.serving_dir = serving_dir
        self._opened: dict[tuple[int, str], _Opened] = {}
        self._vocab: dict[int, dict[str, int]] = {}
        self._lock = threading.Lock()

    def versions(self) -> list[int]:
        return serving.list_versions(self.serving_dir)

    def latest(self) -> int:
        try:
            return int(os.path.basename(serving.resolve(self.serving_dir, serving.LATEST)))
        except serving.ServingError as e:
            raise VersionError(str(e)) from e

    def version_dir(self, version: int) -> str:
        try:
            return serving.resolve(self.serving_dir, str(version))
        except serving.ServingError as e:
            raise VersionError(str(e)) from e

    def info(self, version: int) -> dict:
        try:
            return serving.read_version_info(self.version_dir(version))
        except (OSError, ValueError):
            return {"version": version}

    def vocab(self, version: int) -> dict[str, int]:
        with self._lock:
            if version not in self._vocab:
                path = os.path.join(self.version_dir(version), formats.SEARCHER_TFLITE)
                self._vocab[version] = device_search.read_vocab(path)
            return self._vocab[version]

    def query_words(self, version: int, text: str) -> QueryWords:
        vocab = self.vocab(version)
        words = tokenizer.split(text)
        return QueryWords(words, [w for w in words if w not in vocab])

    def search_text(self, version: int, text: str, k: int) -> Answer:
        """Raises device_search.QueryError for a query of no known word."""
        device_search.check_query(text, self.vocab(version))
        opened = self._searcher(version, formats.SEARCHER_TFLITE)
        with opened.lock, device_search.native_stderr_silenced():
            start = time.perf_counter()
            hits = device_search.search_text(opened.searcher, text)
            millis = (time.perf_counter() - start) * 1000.0
        return Answer(version, hits[:k], millis)

    def search_image(self, version: int, pixels, k: int) -> Answer:
        """`pixels`: an RGB uint8 array [H, W, 3]."""
        opened = self._searcher(version, formats.IMAGE_SEARCHER_TFLITE)
        with opened.lock, device_search.native_stderr_silenced():
            start = time.perf_counter()
            hits = device_search.search_image(opened.searcher, pixels)
            millis = (time.perf_counter() - start) * 1000.0
        return Answer(version, hits[:k], millis)

    def _searcher(self, version: int, name: str) -> _Opened:
        key = (version, name)
        with self._lock:
            if key not in self._opened:
                path = os.path.join(self.version_dir(version), name)
                if name == formats.SEARCHER_TFLITE:
                    searcher = device_search.open_text_searcher(path, max_results=MAX_K)
                else:
                    searcher = device_search.open_image_searcher(path, max_results=MAX_K)
                self._opened[key] = _Opened(searcher)
            return self._opened[key]
