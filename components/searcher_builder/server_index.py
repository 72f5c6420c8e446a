"""The server-side index: scann's own serialization plus what our loader needs.

For users who search on a server (scann imports TensorFlow, so this is a TF-process
module). The directory holds scann's files, `scann_docids.pkl` (the item metadata
strings as docids) and `t2i_server_index.json` (distance, leaves to search, sizes).
scann writes absolute asset paths into `scann_assets.pbtxt`; we rewrite them to bare
file names on save and resolve them against the directory on load, so the index still
loads after the Pusher copies it elsewhere.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np

INFO_FILE = "t2i_server_index.json"
ASSETS_FILE = "scann_assets.pbtxt"
_ASSET_PATH = re.compile(r'asset_path: "([^"]*)"')


class ServerIndexError(ValueError):
    pass


def save(searcher, directory: str, info: dict) -> None:
    """Serializes a scann searcher (built with docids) into `directory`."""
    os.makedirs(directory, exist_ok=True)
    searcher.serialize(directory)
    finalize(directory, info)


def finalize(directory: str, info: dict) -> None:
    """Makes asset paths relative and writes our info file (after scann's serialize)."""
    assets = os.path.join(directory, ASSETS_FILE)
    with open(assets) as f:
        text = f.read()
    with open(assets, "w") as f:
        f.write(_ASSET_PATH.sub(lambda m: f'asset_path: "{os.path.basename(m.group(1))}"', text))
    with open(os.path.join(directory, INFO_FILE), "w") as f:
        json.dump(info, f, indent=2)


def load_scann(directory: str):
    """scann's searcher for a saved index, its docids (item metadata strings) included."""
    import pickle

    from scann.scann_ops.py import scann_ops_pybind

    with open(os.path.join(directory, ASSETS_FILE)) as f:
        assets = _ASSET_PATH.sub(
            lambda m: f'asset_path: "{os.path.join(directory, os.path.basename(m.group(1)))}"',
            f.read(),
        )
    with open(os.path.join(directory, "scann_docids.pkl"), "rb") as f:
        docids = pickle.load(f)
    import scann_pybind  # on sys.path once scann_ops_pybind is imported

    return scann_ops_pybind.ScannSearcher(scann_pybind.ScannNumpy(directory, assets), docids)


@dataclass
class ServerHit:
    metadata: str
    similarity: float


class ServerIndex:
    """A loaded server index: `search(vectors, k)` -> per query, hits best first."""

    def __init__(self, searcher, info: dict):
        self._searcher = searcher
        self.info = info

    @classmethod
    def load(cls, directory: str) -> "ServerIndex":
        info_path = os.path.join(directory, INFO_FILE)
        if not os.path.isfile(info_path):
            raise ServerIndexError(f"{directory}: not a t2i server index (no {INFO_FILE})")
        with open(info_path) as f:
            info = json.load(f)
        return cls(load_scann(directory), info)

    def search(self, queries: np.ndarray, k: int = 10) -> list[list[ServerHit]]:
        queries = np.atleast_2d(np.asarray(queries, np.float32))
        leaves = self.info.get("leaves_to_search") or None
        k = min(k, self.info["num_items"])
        docids, distances = self._searcher.search_batched(
            queries, final_num_neighbors=k, leaves_to_search=leaves
        )
        sign = 1.0 if self.info["distance"] == "dot_product" else -1.0
        # scann reports dot products as similarities and squared L2 as distances.
        return [
            [ServerHit(d, sign * float(s)) for d, s in zip(row_ids, row_scores)]
            for row_ids, row_scores in zip(docids, distances)
        ]
