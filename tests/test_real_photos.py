"""Real photos work with the default (pretrained) towers, end to end: scikit-image's photos
with hand-written captions (tests/real_photos.py) through `t2i run` with no tower setting
changed, then new wordings of what is in each photo, never trained on, through the real
Task Library TextSearcher of the pushed searcher (`t2i search --queries-file`, TF-free).

Chance for the right photo at rank 1 is 1/19 and within the top 5 is 5/19.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

import real_photos

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    from t2i import workflows
    from t2i.configs import load_config

    base = tmp_path_factory.mktemp("photos")
    collection = real_photos.write_collection(str(base / "photos"))
    config = load_config(
        None, [f"data.data_dir={base / 'photos'}", f"pipeline.root={base / 'runs'}"]
    )
    out = io.StringIO()
    outcome = workflows.run(config, out=out)
    assert outcome.succeeded, out.getvalue()
    assert outcome.pushed, out.getvalue()
    return config, outcome, collection


def _search_all(searcher: str, queries: list[str], k: int, tmp_path) -> list[list[str]]:
    """Every query through one `t2i search --queries-file` process (one TextSearcher)."""
    queries_file = tmp_path / "queries.txt"
    queries_file.write_text("".join(f"{q}\n" for q in queries), encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "t2i.cli",
            "search",
            "--queries-file",
            str(queries_file),
            "-k",
            str(k),
            "--searcher",
            searcher,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answered = json.loads(result.stdout)["queries"]
    assert [a["query"] for a in answered] == queries
    return [[os.path.basename(hit["file_name"]) for hit in a["results"]] for a in answered]


def test_new_wordings_find_their_photos_on_device(pushed, tmp_path):
    config, outcome, collection = pushed
    version, directory = outcome.pushed
    searcher = os.path.join(directory, "searcher.tflite")
    queries = collection["queries"]
    found = _search_all(searcher, [query for query, _ in queries], 5, tmp_path)
    at_1 = sum(hits[:1] == [want] for hits, (_, want) in zip(found, queries)) / len(queries)
    at_5 = sum(want in hits for hits, (_, want) in zip(found, queries)) / len(queries)
    photos = len(real_photos.PHOTOS)
    print(
        f"held-out wordings: R@1 {at_1:.3f} (chance {1 / photos:.3f}), "
        f"R@5 {at_5:.3f} (chance {5 / photos:.3f})"
    )
    assert at_1 >= 4 / photos, found
    assert at_5 >= 0.6, found


def test_the_device_searcher_agrees_with_the_savedmodels(pushed):
    config, outcome, _ = pushed
    version, directory = outcome.pushed
    with open(os.path.join(directory, "validation_summary.json")) as f:
        validation = json.load(f)
    # The SearcherValidator queried the real TextSearcher with eval captions and compared
    # with exact search over the ImageEmbedder's (SavedModel) embeddings.
    assert validation["blessed"], validation
    assert validation["top1_agreement"] == 1.0, validation
    assert validation["recall_at_10"] >= 0.95, validation
    assert validation["metadata_problems"] == 0
