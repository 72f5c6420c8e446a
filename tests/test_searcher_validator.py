"""SearcherValidator: real TextSearcher / TextEmbedder runs on eval captions vs exact search."""

import json
import os

import numpy as np
import pytest

from components.common import formats
from components.searcher_validator.work import validate_searcher
from components.searcher_validator.options import ValidatorOptions
from searcher_fixtures import built_searcher, clustered_unit_vectors, write_embeddings


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("validator")


def _validate(build, tmp_path, embeddings=None, **config):
    return validate_searcher(
        build["searcher"],
        embeddings or build["embeddings"],
        build["text_encoder"],
        build["eval_split"],
        str(tmp_path / "blessing"),
        ValidatorOptions(**config),
    )


def test_a_good_searcher_is_blessed_with_its_figures(root, tmp_path):
    # Generous fixed settings: the fixture's random text tower puts every caption in one
    # corner of the space, far from the synthetic image vectors (see the report on
    # tuning queries); this test is about the validator, not the tuner.
    build = built_searcher(root, name="generous", num_leaves_to_search=20, lookup="float")
    summary = _validate(build, tmp_path, max_queries=120)
    assert summary["blessed"], summary["reasons"]
    assert summary["num_queries"] == 120 and summary["refused_queries"] == 0
    # Top-1 can swap where the best scores differ by less than the 8-bit codes' error
    # (this random text tower packs them tightly); recall is the bar.
    assert summary["recall_at_10"] >= 0.95 and summary["top1_agreement"] >= 0.85
    assert summary["metadata_problems"] == 0 and summary["image_searcher"]["ok"]
    assert 0 < summary["p50_ms"] <= summary["p95_ms"]
    assert summary["mean_abs_similarity_error"] < 0.02
    assert json.loads(summary["user_info"])["num_items"] == 2000
    with open(tmp_path / "blessing" / formats.VALIDATION_SUMMARY) as f:
        assert json.load(f)["blessed"] is True


def test_a_searcher_auto_tuned_on_train_captions_is_blessed(root, tmp_path):
    """The default auto-tune, given real text queries (train captions, as the executor
    does with Examples), meets the validator's bar on the eval captions."""
    build = built_searcher(root, name="captions", tune_with_captions=True)
    tuning = build["summary"]["tuning"]
    assert tuning["query_source"] == "captions" and tuning["target_met"]
    summary = _validate(build, tmp_path, max_queries=200)
    assert summary["blessed"], summary["reasons"]


def test_low_recall_is_not_blessed(root, tmp_path):
    build = built_searcher(
        root, num_items=2000, name="one-leaf", num_leaves_to_search=1, lookup="int8"
    )
    summary = _validate(build, tmp_path, max_queries=60)
    assert not summary["blessed"]
    assert any(reason.startswith("recall@10") for reason in summary["reasons"])


def test_results_that_are_not_items_of_the_embeddings_are_not_blessed(root, tmp_path):
    """Validated against other Embeddings (other ids): the metadata does not map back."""
    build = built_searcher(root)
    other = str(tmp_path / "other")
    write_embeddings(other, np.arange(1, 2001) * 7 + 1, build["vectors"])
    summary = _validate(build, tmp_path, embeddings=other, max_queries=30)
    assert not summary["blessed"] and summary["metadata_problems"] > 0
    assert any("metadata of no indexed item" in reason for reason in summary["reasons"])


def test_a_tiny_collection_validates(root, tmp_path):
    from components.searcher_builder.work import build_searcher
    from components.searcher_builder.options import SearcherOptions

    build = dict(built_searcher(root))
    vectors = clustered_unit_vectors(3, 16, seed=2)
    build["embeddings"] = str(tmp_path / "emb")
    write_embeddings(build["embeddings"], [5, 6, 7], vectors, shards=1)
    build["searcher"] = str(tmp_path / "searcher")
    build_searcher(build["embeddings"], build["text_encoder"], build["searcher"], SearcherOptions())
    summary = _validate(build, tmp_path, max_queries=20)
    assert summary["blessed"] and summary["recall_at_10"] == 1.0


def test_a_missing_searcher_file_is_reported_by_name(root, tmp_path):
    build = dict(built_searcher(root))
    build["searcher"] = str(tmp_path)
    with pytest.raises(Exception, match=r"searcher\.tflite: no such file"):
        _validate(build, tmp_path)
    assert not os.path.exists(tmp_path / "blessing" / formats.VALIDATION_SUMMARY)
