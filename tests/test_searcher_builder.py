"""SearcherBuilder: real ScaNN builds of fixture embeddings, checked with the real Task
Library TextSearcher / ImageSearcher in TF-free subprocesses."""

import json
import math
import os
import shutil

import numpy as np
import pytest

from components.common import embeddings_io, formats
from components.common import recall
from components.searcher_builder import plan, server_index, tuning
from components.searcher_builder.work import build_searcher
from components.searcher_builder.options import SearcherOptions
from searcher_fixtures import (
    built_searcher,
    clustered_unit_vectors,
    exported_encoders,
    item_metadata_for,
    run_tf_free,
    write_embeddings,
)

# Runs queries given as vectors through the real TextSearcher: a lookup encoder maps
# "q<i>" to query vector i (components/searcher_builder/query_encoder.py).
LOOKUP_SEARCH = """
from components.common import device_search
from components.searcher_builder.device_index import attach_index
from components.common.tflite_metadata import text_model_with_metadata
import zipfile
with zipfile.ZipFile(request["searcher"]) as z:
    index = z.read(device_search.INDEX_FILE_NAME)
with open(request["lookup"], "rb") as f:
    model = text_model_with_metadata(f.read(), request["vocab"], request["delimiter"],
                                     {"name": "q", "version": "0", "author": "t", "description": "q"})
with open(request["out"], "wb") as f:
    f.write(attach_index(model, index))
searcher = device_search.open_text_searcher(request["out"], max_results=request["k"])
reply = [[h.to_dict() for h in device_search.search_text(searcher, t)] for t in request["texts"]]
"""


def search_vectors(searcher_dir, queries, tmp_path, k=10):
    """Task Library TextSearcher results for query vectors, via a lookup encoder carrying
    the searcher's own index."""
    from components.common import tokenizer
    from components.searcher_builder import query_encoder

    model, vocab = str(tmp_path / "lookup.tflite"), str(tmp_path / "vocab.txt")
    texts = query_encoder.write_lookup_encoder(np.asarray(queries, np.float32), model, vocab)
    return run_tf_free(
        LOOKUP_SEARCH,
        {
            "searcher": os.path.join(searcher_dir, formats.SEARCHER_TFLITE),
            "lookup": model,
            "vocab": vocab,
            "delimiter": tokenizer.DELIMITER_REGEX,
            "texts": texts,
            "k": k,
            "out": str(tmp_path / "lookup_searcher.tflite"),
        },
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("builder")


@pytest.fixture(scope="module")
def default_build(root):
    return built_searcher(root)


def test_default_build_writes_every_output_and_meets_its_target(default_build):
    out = default_build["searcher"]
    for name in (formats.SEARCHER_TFLITE, formats.IMAGE_SEARCHER_TFLITE, formats.SEARCHER_SUMMARY):
        assert os.path.isfile(os.path.join(out, name))
    assert os.path.isfile(os.path.join(out, formats.SERVER_INDEX_DIR, server_index.INFO_FILE))
    summary = default_build["summary"]
    assert summary["num_items"] == 2000 and summary["chosen"]["num_leaves"] == 45  # ~sqrt(N)
    assert summary["tuning"]["target_met"]
    assert summary["tuning"]["chosen"]["recall_at_10"] >= 0.95
    assert summary["chosen"]["leaves_to_search"] == summary["tuning"]["chosen"]["leaves_to_search"]
    assert summary["index_bytes"] > 0 and summary["bytes_per_item"] == round(
        summary["index_bytes"] / 2000, 1
    )
    assert summary["build_seconds"] > 0


def test_task_library_matches_exact_search(default_build, tmp_path):
    """Item-like query vectors through TextSearcher: top-1 equals exact top-1 and
    recall@10 >= 0.95 against exact dot-product search."""
    vectors = default_build["vectors"]
    rng = np.random.default_rng(3)
    queries = vectors[rng.choice(len(vectors), 60, replace=False)] + rng.normal(0, 0.05, (60, 16))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    results = search_vectors(default_build["searcher"], queries, tmp_path)
    row_of = {item_metadata_for(int(i)).decode(): row for row, i in enumerate(default_build["ids"])}
    found = [[row_of[hit["metadata"]] for hit in hits] for hits in results]
    truth = recall.exact_truth(queries, vectors, "dot_product", 10)
    exact = queries @ vectors.T
    top1_same = [exact[i, rows[0]] >= exact[i].max() - 1e-5 for i, rows in enumerate(found)]
    assert np.mean(top1_same) >= 0.95 and top1_same[0]
    assert recall.recall_at_k(found, truth, 10) >= 0.95
    # similarity = -distance = the (approximate) dot product, best first
    sims = [hit["similarity"] for hit in results[0]]
    assert sims == sorted(sims, reverse=True)
    assert abs(sims[0] - exact[0, found[0][0]]) < 0.02


def test_metadata_round_trips_with_and_without_flickr_ids(default_build, tmp_path):
    vectors, ids = default_build["vectors"], default_build["ids"]
    results = search_vectors(default_build["searcher"], vectors[:6], tmp_path, k=1)
    for row, hits in enumerate(results):
        hit = hits[0]
        assert hit["metadata"] == item_metadata_for(int(ids[row])).decode()
        assert hit["image_id"] == ids[row] and hit["file_name"] == f"val2017/{ids[row]:012d}.jpg"
        assert bool(hit["flickr_url"]) == bool(ids[row] % 2)


def test_image_searcher_and_user_info(default_build):
    reply = run_tf_free(
        """
import numpy as np
from components.common import device_search
image = device_search.open_image_searcher(request["image"], max_results=4)
text = device_search.open_text_searcher(request["text"])
hits = device_search.search_image(image, np.full((40, 50, 3), 90, np.uint8))
reply = {"hits": [h.to_dict() for h in hits], "info": text.get_user_info()}
""",
        {
            "image": os.path.join(default_build["searcher"], formats.IMAGE_SEARCHER_TFLITE),
            "text": os.path.join(default_build["searcher"], formats.SEARCHER_TFLITE),
        },
    )
    assert len(reply["hits"]) == 4
    assert all(hit["image_id"] in set(default_build["ids"].tolist()) for hit in reply["hits"])
    info = json.loads(reply["info"])
    assert info["num_items"] == 2000 and info["producer"] == "t2i-searcher"
    assert info["leaves_to_search"] == default_build["summary"]["chosen"]["leaves_to_search"]


def test_server_index_loads_after_a_move_and_agrees_with_exact_search(default_build, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(os.path.join(default_build["searcher"], formats.SERVER_INDEX_DIR), moved)
    index = server_index.ServerIndex.load(str(moved))
    vectors = default_build["vectors"]
    hits = index.search(vectors[:20], k=10)
    exact = vectors[:20] @ vectors.T
    for row, row_hits in enumerate(hits):
        assert len(row_hits) == 10
        assert row_hits[0].metadata == item_metadata_for(int(default_build["ids"][row])).decode()
        assert abs(row_hits[0].similarity - exact[row, row]) < 0.05


@pytest.mark.parametrize("num_items,num_leaves", [(1, 0), (5, 50), (300, 500)])
def test_tiny_collections_and_more_leaves_than_items(root, tmp_path, num_items, num_leaves):
    encoders = exported_encoders(root)
    vectors = clustered_unit_vectors(num_items, 16, spread=1.0, seed=5)
    ids = np.arange(1, num_items + 1)
    write_embeddings(str(tmp_path / "emb"), ids, vectors, shards=1)
    summary = build_searcher(
        str(tmp_path / "emb"),
        encoders["text_encoder"],
        str(tmp_path / "out"),
        SearcherOptions(num_leaves=num_leaves),
    )
    assert summary["num_items"] == num_items
    if num_items < plan.AH_CENTERS:
        assert (
            summary["chosen"]["scoring"] == "brute_force" and summary["chosen"]["num_leaves"] == 1
        )
    else:
        assert summary["chosen"]["num_leaves"] == round(math.sqrt(num_items))
        assert any("too many" in note for note in summary["notes"])
    k = min(10, num_items)
    results = search_vectors(str(tmp_path / "out"), vectors[:3], tmp_path, k=k)
    for row, hits in enumerate(results):
        assert len(hits) == k
        assert hits[0]["image_id"] == ids[row]
    index = server_index.ServerIndex.load(str(tmp_path / "out" / formats.SERVER_INDEX_DIR))
    assert index.search(vectors[:1], k=3)[0][0].metadata == item_metadata_for(1).decode()


def test_fixed_settings_skip_tuning_and_l2_distance_works(root, tmp_path):
    build = built_searcher(
        root,
        num_items=1000,
        name="l2",
        distance="squared_l2",
        num_leaves_to_search=6,
        lookup="float",
    )
    summary = build["summary"]
    assert summary["tuning"] is None
    assert summary["chosen"]["leaves_to_search"] == 6 and summary["chosen"]["lookup"] == "float"
    vectors = build["vectors"]
    results = search_vectors(build["searcher"], vectors[:10], tmp_path, k=3)
    for row, hits in enumerate(results):
        assert hits[0]["image_id"] == build["ids"][row]
        assert hits[0]["similarity"] <= 0 and hits[0]["similarity"] > -0.05  # -squared L2
    hits = server_index.ServerIndex.load(
        os.path.join(build["searcher"], formats.SERVER_INDEX_DIR)
    ).search(vectors[:1], k=2)
    assert hits[0][0].metadata == item_metadata_for(int(build["ids"][0])).decode()
    assert -0.05 < hits[0][0].similarity <= 1e-6


def test_auto_tune_on_given_query_vectors(root, tmp_path):
    encoders = exported_encoders(root)
    vectors = clustered_unit_vectors(600, 16, spread=1.0, seed=9)
    write_embeddings(str(tmp_path / "emb"), np.arange(1, 601), vectors, shards=1)
    queries = clustered_unit_vectors(80, 16, spread=1.5, seed=10)
    summary = build_searcher(
        str(tmp_path / "emb"),
        encoders["text_encoder"],
        str(tmp_path / "out"),
        SearcherOptions(),
        tuning_vectors=queries,
    )
    assert summary["tuning"]["query_source"] == "query vectors"
    assert summary["tuning"]["num_queries"] == 80
    assert summary["tuning_method"].startswith("80 query vectors")


def test_brute_force_scoring_with_a_tree(root, tmp_path):
    build = built_searcher(root, num_items=600, name="bf", scoring="brute_force")
    summary = build["summary"]
    assert summary["chosen"]["scoring"] == "brute_force" and summary["chosen"]["num_leaves"] > 1
    assert summary["tuning"]["target_met"]
    assert summary["bytes_per_item"] > 16 * 4  # float vectors


def test_search_fraction_never_rounds_up_in_float32():
    for num_leaves in range(1, 400):
        for leaves in range(1, num_leaves + 1):
            fraction = np.float32(plan.search_fraction(leaves, num_leaves))
            assert math.ceil(np.float32(num_leaves) * fraction) == leaves


def test_tuning_picks_the_cheapest_setting_that_meets_the_target():
    # A recall surface where FLOAT climbs faster than INT8 and INT8 tops out at 0.96.
    def evaluate(leaves, lookup):
        ceiling, speed = (0.99, 0.2) if lookup == "float" else (0.96, 0.12)
        return tuning.Trial(
            leaves, lookup, round(ceiling * (1 - math.exp(-speed * leaves * 2.5)), 4), stderr=0.004
        )

    result = tuning.tune(evaluate, 100, ["float", "int8"], 0.95)
    assert result.target_met
    # FLOAT: 7 leaves -> 0.9601 (lower bound 0.9535) passes, 6 -> 0.9407 does not; INT8
    # would need more than 7 * 1.25 leaves to be cheaper, and does not get there.
    assert (result.chosen.lookup, result.chosen.leaves_to_search) == ("float", 7)
    assert result.chosen.meets(0.95) and not result.chosen.meets(0.955)
    assert max(t.leaves_to_search for t in result.trials if t.lookup == "int8") == 8  # < 8.75
    unreachable = tuning.tune(evaluate, 100, ["int8"], 0.99)
    assert not unreachable.target_met and unreachable.chosen.recall_at_10 >= 0.95


def _recall_surface(float_speed: float, int8_speed: float):
    """evaluate(leaves, lookup) for a recall that grows with the leaves searched."""

    def evaluate(leaves, lookup):
        ceiling, speed = (0.99, float_speed) if lookup == "float" else (0.985, int8_speed)
        return tuning.Trial(
            leaves, lookup, round(ceiling * (1 - math.exp(-speed * leaves)), 4), stderr=0.002
        )

    return evaluate


@pytest.mark.parametrize("float_speed, int8_speed", [(0.05, 0.04), (0.04, 0.06), (0.3, 0.1)])
def test_a_warm_start_finds_the_cold_tunings_setting_in_fewer_trials(float_speed, int8_speed):
    evaluate = _recall_surface(float_speed, int8_speed)
    cold = tuning.tune(evaluate, 200, ["float", "int8"], 0.95)
    assert cold.target_met
    best = (cold.chosen.leaves_to_search, cold.chosen.lookup)
    # The previous searcher's choice, and starts too low, too high and on the other lookup.
    for start in [
        best,
        (best[0] // 2, best[1]),
        (min(200, best[0] * 3), best[1]),
        (best[0], "int8" if best[1] == "float" else "float"),
    ]:
        warm = tuning.tune(evaluate, 200, ["float", "int8"], 0.95, start=start)
        assert (warm.chosen.leaves_to_search, warm.chosen.lookup) == best, start
    exact = tuning.tune(evaluate, 200, ["float", "int8"], 0.95, start=best)
    # Itself, one leaf fewer, and the other lookup at the most leaves still cheaper.
    assert len(exact.trials) <= 3 < len(cold.trials)


def test_exact_truth_counts_ties_and_recall_is_per_query():
    vectors = np.array([[1, 0], [1, 0], [0, 1], [0.9, 0.1]], np.float32)
    truth = recall.exact_truth(vectors[:1], vectors, "dot_product", 1)
    assert sorted(truth[0]) == [0, 1]  # a tie at the boundary: both are right
    truth = recall.exact_truth(np.array([[0, 2]], np.float32), vectors, "squared_l2", 2)
    assert sorted(truth[0]) == [2, 3]
    assert recall.recall_at_k([[1, 3]], [[1, 3]], 2) == 1.0
    assert recall.per_query_recall([[2, 3], [1]], [[1, 3], [1]], 2) == [0.5, 1.0]
    assert recall.stderr([1.0, 1.0]) == 0.0


def test_tuning_queries_sit_at_the_chosen_cosine_from_their_items():
    from components.searcher_builder.work import tuning_queries

    vectors = clustered_unit_vectors(300, 16) * 3.0  # not unit: norms are kept
    queries = tuning_queries(vectors, 50, seed=1, cosine=0.8)
    assert queries.shape == (50, 16)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1), 3.0, rtol=1e-5)
    cos = np.max(queries @ vectors.T / 9.0, axis=1)
    assert np.all(cos >= 0.8 - 1e-5)


def test_plan_rejects_bad_options_and_empty_collections():
    with pytest.raises(plan.PlanError, match="distance"):
        plan.plan_index(SearcherOptions(distance="cosine"), 100, 16)
    with pytest.raises(plan.PlanError, match="no items"):
        plan.plan_index(SearcherOptions(), 0, 16)
    big = plan.plan_index(SearcherOptions(), 123_287, 128)
    assert big.num_leaves == 351 and big.training_sample_size == 100_000 and big.needs_tuning


def test_embeddings_reader_errors_name_the_problem(tmp_path):
    with pytest.raises(embeddings_io.EmbeddingsFormatError, match="no embeddings-"):
        embeddings_io.read_embeddings(str(tmp_path))
    vectors = clustered_unit_vectors(4, 8)
    write_embeddings(str(tmp_path / "dup"), [1, 2, 2, 3], vectors, shards=1)
    with pytest.raises(embeddings_io.EmbeddingsFormatError, match=r"duplicate image ids \[2\]"):
        embeddings_io.read_embeddings(str(tmp_path / "dup"))
    write_embeddings(str(tmp_path / "same"), [1, 2, 3, 4], vectors, metadata=[b"x"] * 4, shards=1)
    with pytest.raises(embeddings_io.EmbeddingsFormatError, match="share one metadata string"):
        embeddings_io.read_embeddings(str(tmp_path / "same"))
    write_embeddings(str(tmp_path / "ok"), [3, 1, 2, 4], vectors, shards=2)
    items = embeddings_io.read_embeddings(str(tmp_path / "ok"))
    assert items.image_ids.tolist() == [1, 2, 3, 4] and items.dim == 8
    np.testing.assert_array_equal(items.vectors[0], vectors[1])
    summary = tmp_path / "ok" / formats.EMBEDDINGS_SUMMARY
    summary.write_text(json.dumps({"count": 5, "dim": 8}))
    with pytest.raises(embeddings_io.EmbeddingsFormatError, match="says 5 rows"):
        embeddings_io.read_embeddings(str(tmp_path / "ok"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "embeddings-00000-of-00001.tfrecord.gz").write_bytes(b"not gzip")
    with pytest.raises(embeddings_io.EmbeddingsFormatError, match="unreadable"):
        embeddings_io.read_embeddings(str(tmp_path / "bad"))


def test_missing_text_encoder_is_reported(tmp_path, root):
    write_embeddings(str(tmp_path / "emb"), [1], clustered_unit_vectors(1, 16), shards=1)
    with pytest.raises(FileNotFoundError, match="text_encoder.tflite: missing"):
        build_searcher(
            str(tmp_path / "emb"), str(tmp_path / "none"), str(tmp_path / "out"), SearcherOptions()
        )


# ----------------------------------------------------------------- incremental rebuilds

MODEL = {"uri": "/models/Trainer/model/7/Format-Serving", "artifact_id": 7}


def build_and_rebuild(root, label: str, first: int, second: int, config: SearcherOptions) -> dict:
    """A searcher over `first` items, then its rebuild over the same items plus new ones."""
    encoders = exported_encoders(root)
    vectors = clustered_unit_vectors(second, 16, spread=1.0, seed=21)
    ids = np.arange(1, second + 1) * 3
    out = {"vectors": vectors, "ids": ids}
    previous = None
    for name, count in (("first", first), ("second", second)):
        embeddings = os.path.join(str(root), f"{label}-{name}-embeddings")
        write_embeddings(embeddings, ids[:count], vectors[:count], model=MODEL)
        searcher = os.path.join(str(root), f"{label}-{name}")
        out[name] = {
            "dir": searcher,
            "summary": build_searcher(
                embeddings,
                encoders["text_encoder"],
                searcher,
                config,
                previous_searcher_dir=previous,
            ),
        }
        previous = searcher
    return out


@pytest.fixture(scope="module")
def rebuilt(root):
    return build_and_rebuild(root, "rebuild", 2000, 2200, SearcherOptions())


def test_a_brute_force_index_is_extended_with_the_new_vectors(root, tmp_path):
    built = build_and_rebuild(root, "rebuild-bf", 600, 660, SearcherOptions(scoring="brute_force"))
    assert built["second"]["summary"]["incremental"]["used"] is True
    floats = [
        np.load(os.path.join(built[name]["dir"], formats.SERVER_INDEX_DIR, "dataset.npy"))
        for name in ("first", "second")
    ]
    assert floats[1].shape == (660, 16)
    np.testing.assert_array_equal(floats[1][:600], floats[0])
    rows = [0, 1, 600, 659]
    results = search_vectors(built["second"]["dir"], built["vectors"][rows], tmp_path, k=1)
    assert [hits[0]["image_id"] for hits in results] == [int(built["ids"][row]) for row in rows]


def _codes_by_docid(searcher_dir):
    import pickle

    server = os.path.join(searcher_dir, formats.SERVER_INDEX_DIR)
    with open(os.path.join(server, "scann_docids.pkl"), "rb") as f:
        docids = pickle.load(f)
    return dict(zip(docids, np.load(os.path.join(server, "hashed_dataset.npy"))))


def test_a_rebuild_extends_the_previous_index_keeping_its_leaves_and_codes(rebuilt):
    first, second = rebuilt["first"]["summary"], rebuilt["second"]["summary"]
    assert first["incremental"]["used"] is False
    assert second["incremental"]["used"] is True
    assert (second["incremental"]["previous_items"], second["incremental"]["new_items"]) == (
        2000,
        200,
    )
    assert second["num_items"] == 2200 and second["embedding_model"] == MODEL
    # sqrt(2200) would be 47 leaves: the previous partitioner's 45 are kept.
    assert second["chosen"]["num_leaves"] == first["chosen"]["num_leaves"] == 45
    assert second["tuning"]["target_met"]
    # Re-tuning starts from the previous searcher's setting.
    chosen = first["chosen"]
    assert second["tuning"]["started_from"] == [chosen["leaves_to_search"], chosen["lookup"]]
    assert first["tuning"]["started_from"] is None
    assert len(second["tuning"]["trials"]) < len(first["tuning"]["trials"])
    old, new = _codes_by_docid(rebuilt["first"]["dir"]), _codes_by_docid(rebuilt["second"]["dir"])
    assert len(new) == 2200 and set(old) < set(new)
    assert all(np.array_equal(old[docid], new[docid]) for docid in old)


def test_extended_leaves_and_codes_are_what_scanns_own_upsert_gives(rebuilt, tmp_path):
    import pickle

    first = os.path.join(rebuilt["first"]["dir"], formats.SERVER_INDEX_DIR)
    second = os.path.join(rebuilt["second"]["dir"], formats.SERVER_INDEX_DIR)
    with open(os.path.join(second, "scann_docids.pkl"), "rb") as f:
        docids = pickle.load(f)
    row_of = {
        item_metadata_for(int(image_id)).decode(): row
        for row, image_id in enumerate(rebuilt["ids"])
    }
    searcher = server_index.load_scann(first)
    searcher.upsert(
        docids[2000:], rebuilt["vectors"][[row_of[d] for d in docids[2000:]]], batch_size=64
    )
    searcher.serialize(str(tmp_path))
    for name in ("datapoint_to_token.npy", "hashed_dataset.npy"):
        np.testing.assert_array_equal(
            np.load(os.path.join(second, name)),
            np.load(os.path.join(str(tmp_path), name)),
            err_msg=name,
        )


def test_the_extended_index_finds_old_and_new_items_on_device(rebuilt, tmp_path):
    vectors, ids = rebuilt["vectors"], rebuilt["ids"]
    rows = list(range(0, 10)) + list(range(2000, 2010))
    results = search_vectors(rebuilt["second"]["dir"], vectors[rows], tmp_path, k=3)
    assert [hits[0]["image_id"] for hits in results] == [int(ids[row]) for row in rows]
    index = server_index.ServerIndex.load(
        os.path.join(rebuilt["second"]["dir"], formats.SERVER_INDEX_DIR)
    )
    assert (
        index.search(vectors[2005:2006], k=1)[0][0].metadata
        == item_metadata_for(int(ids[2005])).decode()
    )


def test_a_rebuild_retrains_when_extending_would_be_unsound(rebuilt):
    from components.searcher_builder import incremental

    previous = rebuilt["first"]["dir"]
    docids = [item_metadata_for(int(i)).decode() for i in rebuilt["ids"]]
    config = SearcherOptions()
    grown = plan.plan_index(config, len(docids), 16)

    assert incremental.decide(previous, grown, config, docids, MODEL).extends
    cases = {
        "no previous searcher": incremental.decide(None, grown, config, docids, MODEL),
        "grew by 10%": incremental.decide(
            previous, grown, SearcherOptions(incremental_max_growth=0.05), docids, MODEL
        ),
        "these embeddings come from": incremental.decide(
            previous, grown, config, docids, {"uri": "/models/other", "artifact_id": 8}
        ),
        "items of the previous index are not in these embeddings": incremental.decide(
            previous, plan.plan_index(config, 2199, 16), config, docids[1:], MODEL
        ),
        "distance changed": incremental.decide(
            previous,
            plan.plan_index(SearcherOptions(distance="squared_l2"), len(docids), 16),
            SearcherOptions(distance="squared_l2"),
            docids,
            MODEL,
        ),
        "num_leaves changed": incremental.decide(
            previous,
            plan.plan_index(SearcherOptions(num_leaves=30), len(docids), 16),
            SearcherOptions(num_leaves=30),
            docids,
            MODEL,
        ),
    }
    for expected, decision in cases.items():
        assert not decision.extends and expected in decision.reason, (expected, decision.reason)


# ----------------------------------------------------------------- build-settings search


def test_build_search_walks_each_axis_and_keeps_the_fastest_build_meeting_the_target():
    # Latency falls towards 60 leaves, which only meet the target with spherical k-means
    # (which is also a little faster).
    def tune_build(settings):
        leaves = settings["num_leaves"]
        met = leaves < 60 or settings["spherical"]
        p50 = abs(leaves - 60) / 100 + 0.1 + (0 if settings["spherical"] else 0.01)
        chosen = tuning.Trial(4, "int8", 0.96 if met else 0.9, 0.001, round(p50, 4))
        return tuning.TuningResult(chosen, met, [chosen])

    axes = [
        ("num_leaves", lambda _: [20, 40, 80]),
        ("num_leaves", lambda best: [best - 10, best + 10]),
        ("spherical", lambda spherical: [not spherical]),
        ("num_leaves", lambda best: [best + 10]),
    ]
    start = {"num_leaves": 30, "spherical": False}
    best, trials = tuning.search_builds(tune_build, start, axes)
    # 50 is the best of the first two passes (80 misses the target, 30 is not built
    # twice); spherical then lets 60 meet it.
    assert best.settings == {"num_leaves": 60, "spherical": True}
    assert [t.settings["num_leaves"] for t in trials] == [30, 20, 40, 80, 50, 50, 60]
    missed = tuning.BuildTrial({}, tune_build({"num_leaves": 70, "spherical": False}))
    assert best.better_than(missed) and not missed.better_than(best)


def test_build_search_reuses_one_codebook_and_picks_a_measured_build(root, tmp_path):
    encoders = exported_encoders(root)
    vectors = clustered_unit_vectors(1200, 16, spread=1.0, seed=31)
    write_embeddings(str(tmp_path / "emb"), np.arange(1, 1201), vectors, shards=1)
    summary = build_searcher(
        str(tmp_path / "emb"),
        encoders["text_encoder"],
        str(tmp_path / "out"),
        SearcherOptions(build_search="trees", tuning_queries=100),
    )
    search = summary["tuning"]["build_search"]
    builds = search["builds"]
    assert {b["settings"]["num_leaves"] for b in builds} >= {17, 35, 69, 139}  # sqrt(N) x 0.5..4
    assert {b["settings"]["anisotropic_quantization_threshold"] for b in builds} == {0.2}
    finalists = [b for b in builds if b["final_p50_ms"] is not None]
    assert search["chosen"] == min(finalists, key=lambda b: b["final_p50_ms"])
    assert summary["chosen"]["num_leaves"] == search["chosen"]["settings"]["num_leaves"]
    assert summary["chosen"]["leaves_to_search"] == search["chosen"]["leaves_to_search"]
    assert summary["tuning"]["target_met"]
    # The chosen build is what was written: the device finds each item as its own top hit.
    results = search_vectors(str(tmp_path / "out"), vectors[:5], tmp_path, k=1)
    assert [hits[0]["image_id"] for hits in results] == [1, 2, 3, 4, 5]
    index = server_index.ServerIndex.load(str(tmp_path / "out" / formats.SERVER_INDEX_DIR))
    assert index.search(vectors[:1], k=1)[0][0].metadata == item_metadata_for(1).decode()
