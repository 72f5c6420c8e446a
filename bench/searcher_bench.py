"""On-device searcher benchmark: recall@10 vs exact search, Task Library latency, bytes
per item and build time, for the seeds' blog config and for our default (auto-tuned).

    .venv/bin/python -m bench.searcher_bench            # 20,000 and 123,287 items
    .venv/bin/python -m bench.searcher_bench --quick    # 20,000 only
    ... --output bench-results.json

Data: clustered synthetic unit vectors (dim 128, two-level clusters) with COCO-like item metadata
(`123456|2970773875|val2014/COCO_val2014_000000123456.jpg`), written as a real Embeddings
artifact; the text encoder is the test fixture model (128-d) exported by the real
TextEncoderExporter. Every searcher is built by the real SearcherBuilder. Queries: 200
vectors drawn near the data (a sub-topic's centre plus item-level noise: "concept"
queries that sit among items rather than on one), run through the real Task Library
TextSearcher via a lookup encoder (components/searcher_builder/query_encoder.py) carrying
the searcher's own index, so latency is tokenizer + interpreter + ScaNN search. Not a
timed test: the machine is shared, so the load is recorded with the numbers.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time

import t2i  # noqa: F401  (process environment before TensorFlow)

import numpy as np

from components.common import embeddings_io, formats, item_metadata, tf_free, tokenizer
from components.common import recall
from components.searcher_builder import query_encoder, scann_index, server_index
from components.searcher_builder.work import build_searcher
from components.searcher_builder.plan import plan_index
from components.text_encoder_exporter.options import ExporterOptions
from components.searcher_builder.options import SearcherOptions

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIM = 128
SIZES_FULL = (20_000, 123_287)
BLOG = {"num_leaves": 351, "num_leaves_to_search": 4, "lookup": "int8"}
NUM_QUERIES = 200
# Two-level clusters: topics, sub-topics around them (about ten items each at any size:
# a "concept" with a handful of near-duplicate images), items around sub-topics; noise
# norms relative to a unit centre. Calibrated so that at 123,287 items, 351 leaves with
# exact in-leaf scoring find 92% / 94% / 96% of the true top 10 searching 4 / 8 / 16
# leaves: neighbourhoods spill over partition borders as in real embedding collections,
# neither isolated blobs (trivial) nor uniform noise (hopeless), and the blog config
# lands near the 0.875 measured before (docs/SEARCHER_FORMAT.md §7).
TOPICS, ITEMS_PER_SUBTOPIC = 150, 10
SUBTOPIC_SPREAD, ITEM_SPREAD = 1.2, 1.1


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def synthetic_collection(n: int, seed: int = 0):
    """(ids, vectors, metadata, sub-topic centres): unit vectors, Zipf-like sub-topic
    sizes, COCO-like metadata."""
    rng = np.random.default_rng(seed)
    topics = _unit(rng.normal(size=(TOPICS, DIM)))
    per_topic = max(1, round(n / ITEMS_PER_SUBTOPIC / TOPICS))
    count = TOPICS * per_topic
    centres = _unit(topics[np.arange(count) // per_topic]
                    + SUBTOPIC_SPREAD * rng.normal(size=(count, DIM)) / math.sqrt(DIM))
    weights = 1.0 / np.arange(1, count + 1) ** 0.5
    members = rng.choice(count, size=n, p=weights / weights.sum())
    vectors = _unit(centres[members] + ITEM_SPREAD * rng.normal(size=(n, DIM)) / math.sqrt(DIM))
    ids = np.sort(rng.choice(581_929, size=n, replace=False) + 1)
    flickr = rng.integers(1_000_000_000, 9_999_999_999, size=n)
    metadata = [item_metadata.ItemMetadata(int(i), f"val2014/COCO_val2014_{int(i):012d}.jpg",
                                           str(int(f))).encode() for i, f in zip(ids, flickr)]
    return ids, vectors.astype(np.float32), metadata, centres


def concept_queries(centres: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    """Near a random sub-topic's centre, as far from it as its items are."""
    rng = np.random.default_rng(seed)
    picked = centres[rng.choice(len(centres), size=count, replace=False)]
    return _unit(picked + ITEM_SPREAD * rng.normal(size=picked.shape) / math.sqrt(DIM)).astype(np.float32)


def export_text_encoder(work: str) -> str:
    """The fixture model at 128-d, through the real TextEncoderExporter."""
    sys.path.insert(0, os.path.join(REPO_ROOT, "tests"))
    from model_fixtures import build_fixture_model
    from searcher_fixtures import all_captions

    from components.text_encoder_exporter import work as exporter

    serving = build_fixture_model(os.path.join(work, "model", "Format-Serving"), all_captions(60),
                                  embedding_dim=DIM)
    out = os.path.join(work, "text_encoder")
    exporter.export_encoders(serving, out, ExporterOptions())
    return out


# ---------------------------------------------------------------- measuring

def evaluate(searcher_dir: str, config: SearcherOptions, vectors, metadata, queries,
             settings: list[tuple[int, str]], work: str) -> list[dict]:
    """Recall@10 / latency / index bytes of search settings on a built searcher's index
    (re-read from its server index, which is scann's own serialization)."""
    plan = plan_index(config, len(vectors), DIM)
    with open(os.path.join(searcher_dir, formats.SEARCHER_SUMMARY)) as f:
        plan.num_leaves = json.load(f)["chosen"]["num_leaves"]
    parts = scann_index.on_device_parts(os.path.join(searcher_dir, formats.SERVER_INDEX_DIR), plan)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        metadata_path = os.path.join(tmp, "metadata.npy")
        np.save(metadata_path, np.array(metadata, dtype=object), allow_pickle=True)
        os.makedirs(os.path.join(tmp, "lookup"))
        model = os.path.join(tmp, "lookup", "lookup.tflite")
        vocab = os.path.join(tmp, "lookup", formats.MODEL_VOCAB)
        texts = query_encoder.write_lookup_encoder(queries, model, vocab)
        truth = recall.exact_truth(queries, vectors, "dot_product", 10)
        reply = tf_free.run_module("components.searcher_builder.device_index", {
            "parts": parts.save(os.path.join(tmp, "parts")), "metadata": metadata_path,
            "userinfo": {"producer": "bench"}, "delimiter": tokenizer.DELIMITER_REGEX,
            "evaluate": settings,
            "tuning": {"model": model, "vocab": vocab, "texts": texts, "truth": truth, "k": 10},
        })
    return reply["trials"]


def row(name: str, summary: dict, trial: dict, num_items: int) -> dict:
    return {
        "config": name, "num_items": num_items,
        "num_leaves": summary["chosen"]["num_leaves"],
        "leaves_to_search": trial["leaves_to_search"], "lookup": trial["lookup"],
        "dimensions_per_block": summary["chosen"]["dimensions_per_block"],
        "recall_at_10": trial["recall_at_10"], "recall_stderr": trial["stderr"],
        "p50_ms": trial["p50_ms"], "p95_ms": trial["p95_ms"],
        "index_bytes": trial["index_bytes"],
        "bytes_per_item": round(trial["index_bytes"] / num_items, 1),
        "searcher_tflite_bytes": summary["searcher_bytes"],
        "build_seconds": summary["build_seconds"], "train_seconds": summary["train_seconds"],
        "tuned_on": (summary["tuning"] or {}).get("query_source"),
    }


def bench_size(n: int, text_encoder: str, work: str) -> dict:
    ids, vectors, metadata, centres = synthetic_collection(n)
    queries = concept_queries(centres, NUM_QUERIES)
    embeddings = os.path.join(work, f"embeddings-{n}")
    embeddings_io.write_embeddings(embeddings, ids, vectors, metadata,
                                   summary={"count": len(ids), "dim": DIM}, shards=4)
    rows, sweeps, tunings = [], {}, {}

    # Tuning queries for the default: a second, disjoint draw of concept queries, as the
    # pipeline tunes on train captions and validates on eval captions.
    tuning_sample = concept_queries(centres, NUM_QUERIES, seed=2)
    builds = {
        "default (auto)": (SearcherOptions(), tuning_sample),
        "default, 2 dims/block (auto)": (SearcherOptions(dimensions_per_block=2), tuning_sample),
        "default (auto), no query sample": (SearcherOptions(), None),
        "blog 351/4 INT8": (SearcherOptions(**BLOG), None),
    }
    done = {}
    for name, (config, tuning_vectors) in builds.items():
        blog = name.startswith("blog")
        if blog and round(math.sqrt(n)) == BLOG["num_leaves"]:
            # Same index as the default (351 leaves, 1 dim per block): only the search
            # settings differ, so it is measured on the default's index.
            summary, out = done["default (auto)"]
        else:
            out = os.path.join(work, f"searcher-{n}-{len(done)}")
            summary = build_searcher(embeddings, text_encoder, out, config,
                                     tuning_vectors=tuning_vectors)
        done[name] = (summary, out)
        if blog:
            settings = [(4, "int8"), (4, "float")]
        else:
            leaves = summary["chosen"]["num_leaves"]
            sweep = sorted({max(1, round(leaves * f)) for f in (0.01, 0.02, 0.03, 0.05, 0.08)})
            settings = [(summary["chosen"]["leaves_to_search"], summary["chosen"]["lookup"])]
            settings += [(s, lookup) for s in sweep for lookup in ("int8", "float")]
        trials = evaluate(out, config, vectors, metadata, queries, settings, work)
        rows.append(row(name, summary, trials[0], n))
        if blog:
            rows.append(row("blog 351/4, FLOAT lookup", summary, trials[1], n))
        else:
            sweeps[name] = trials
            tunings[name] = summary["tuning"]
    baselines = [exact_search_row(vectors, queries),
                 server_index_row(done["default (auto)"][1], vectors, metadata, queries)]
    return {"num_items": n, "rows": rows, "baselines": baselines, "sweeps": sweeps,
            "tuning": tunings}


def _latency_ms(search_one, queries) -> tuple[float, float]:
    """p50 / p95 of one query at a time (the on-device case), after one warm-up query."""
    search_one(queries[0])
    times = []
    for query in queries:
        started = time.perf_counter()
        search_one(query)
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def exact_search_row(vectors: np.ndarray, queries: np.ndarray) -> dict:
    """Brute force in numpy float32: the exact answer, and what it costs per query."""
    def top10(query):
        scores = vectors @ query
        return np.argpartition(-scores, 10)[:10]

    p50, p95 = _latency_ms(top10, queries)
    return {"config": "exact (numpy float32)", "recall_at_10": 1.0, "p50_ms": round(p50, 3),
            "p95_ms": round(p95, 3), "bytes_per_item": float(vectors.shape[1] * 4)}


def server_index_row(searcher_dir: str, vectors: np.ndarray, metadata: list, queries: np.ndarray) -> dict:
    """The server-side ScaNN index the builder writes next to searcher.tflite (scann's own
    search, same tree, with reordering off as on device)."""
    index = server_index.ServerIndex.load(os.path.join(searcher_dir, formats.SERVER_INDEX_DIR))
    p50, p95 = _latency_ms(lambda q: index.search(q, k=10), queries)
    truth = recall.exact_truth(queries, vectors, "dot_product", 10)
    row_of = {m.decode() if isinstance(m, bytes) else m: i for i, m in enumerate(metadata)}
    found = index.search(queries, k=10)
    recall_at_10 = np.mean([min(10, len({row_of[hit.metadata] for hit in hits} & set(true))) / 10
                      for hits, true in zip(found, truth)])
    return {"config": "server ScaNN (default index)", "recall_at_10": round(float(recall_at_10), 4),
            "p50_ms": round(p50, 3), "p95_ms": round(p95, 3),
            "leaves_to_search": index.info.get("leaves_to_search")}


def machine() -> dict:
    return {"load_average": os.getloadavg(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def print_table(result: dict) -> None:
    print(f"\n== {result['num_items']:,} items ==")
    head = (f"{'config':<32}{'leaves':>9}{'lookup':>7}{'d/blk':>6}{'recall@10':>10}"
            f"{'p50 ms':>8}{'p95 ms':>8}{'B/item':>8}{'build s':>9}")
    print(head)
    for r in result["rows"]:
        print(f"{r['config']:<32}{r['leaves_to_search']:>4}/{r['num_leaves']:<4}{r['lookup']:>7}"
              f"{r['dimensions_per_block']:>6}{r['recall_at_10']:>10.3f}{r['p50_ms']:>8.3f}"
              f"{r['p95_ms']:>8.3f}{r['bytes_per_item']:>8.1f}{r['build_seconds']:>9.1f}")
    for b in result.get("baselines", []):
        print(f"{b['config']:<32}{'':>9}{'':>7}{'':>6}{b['recall_at_10']:>10.3f}{b['p50_ms']:>8.3f}"
              f"{b['p95_ms']:>8.3f}")
    for name, trials in result["sweeps"].items():
        print(f"  sweep, {name}: " + ", ".join(
            f"{t['leaves_to_search']}/{t['lookup']}: {t['recall_at_10']:.3f} {t['p50_ms']:.2f}ms"
            for t in trials[1:]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 items only")
    parser.add_argument("--output", help="also write the results as JSON here")
    parser.add_argument("--sizes", help="comma-separated sizes (overrides --quick)")
    args = parser.parse_args(argv)
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else SIZES_FULL[:1] if args.quick else SIZES_FULL)
    results = {"machine_before": machine(), "sizes": []}
    with tempfile.TemporaryDirectory(prefix="t2i-bench-") as work:
        text_encoder = export_text_encoder(os.path.join(work, "encoder"))
        for n in sizes:
            result = bench_size(n, text_encoder, work)
            results["sizes"].append(result)
            print_table(result)
    results["machine_after"] = machine()
    print(f"\nload average before {results['machine_before']['load_average']}, "
          f"after {results['machine_after']['load_average']} ({os.cpu_count()} cpus)")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
