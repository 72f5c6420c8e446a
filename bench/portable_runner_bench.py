"""Beam's portable runner (Python job service + external worker pool on loopback) vs the
DirectRunner, on CocoExampleGen and the ImageEmbedder: wall time, images/s, and whether
the outputs are equal (same records per split; same ids, embeddings within 1e-5).

    PYTHONPATH=$PWD .venv/bin/python bench/portable_runner_bench.py --images 2000

The embedder uses the tests' small fixture dual encoder (tests/model_fixtures.py): this
measures the runners, not a tower. Each stage runs once per runner, in one process, side
by side, so the ratio holds on a shared machine even when the absolute figures do not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
)

import t2i  # noqa: E402,F401  (sets the process environment before TensorFlow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--work-dir", default="")
    args = parser.parse_args()

    import numpy as np

    from components.common import embeddings_io
    from model_fixtures import build_fixture_model
    from t2i import beam_options, sample_data
    from portable_beam import local_portable_beam
    from test_portable_runner import run_embedder, run_example_gen, split_records

    work = args.work_dir or tempfile.mkdtemp(prefix="portable-bench-")
    data = os.path.join(work, "coco")
    sample_data.generate(data, num_images=args.images, seed=11, image_size=args.image_size)
    model_dir = os.path.join(work, "model")
    build_fixture_model(os.path.join(model_dir, "Format-Serving"), ["a picture"], image_size=64)
    image = "t2i-searcher:bench"
    rows, outputs = {}, {}
    with local_portable_beam(os.path.join(work, "beam-logs")) as portable:
        runners = {
            "DirectRunner": beam_options.build([], image=image),
            "PortableRunner": beam_options.build(portable.beam_args, image=image),
        }
        for runner, beam_args in runners.items():
            started = time.perf_counter()
            examples = run_example_gen(data, os.path.join(work, f"examples-{runner}"), beam_args)
            ingest = time.perf_counter() - started
            started = time.perf_counter()
            embeddings = run_embedder(
                examples, model_dir, os.path.join(work, f"emb-{runner}"), beam_args
            )
            embed = time.perf_counter() - started
            summary = embeddings_io.read_summary(embeddings.uri)
            rows[runner] = {
                "ingest_seconds": round(ingest, 1),
                "ingest_images_per_second": round(args.images / ingest, 1),
                "embed_seconds": round(embed, 1),
                "embed_images_per_second": round(args.images / embed, 1),
                "embed_pipeline_seconds": summary["pipeline_seconds"],
                "embed_startup_seconds": summary["startup_seconds"],
                "execution_mode": summary["execution"]["mode"],
            }
            outputs[runner] = (
                split_records(examples),
                embeddings_io.read_embeddings(embeddings.uri),
            )
    (direct_records, direct_emb), (portable_records, portable_emb) = outputs.values()
    equal_records = all(direct_records[s] == portable_records[s] for s in direct_records)
    same_ids = direct_emb.image_ids.tolist() == portable_emb.image_ids.tolist()
    max_diff = (
        float(np.max(np.abs(direct_emb.vectors - portable_emb.vectors))) if same_ids else None
    )
    result = {
        "images": args.images,
        "image_size": args.image_size,
        "cores": len(os.sched_getaffinity(0)),
        "runners": rows,
        "records_equal": equal_records,
        "records_per_split": {s: len(r) for s, r in direct_records.items()},
        "embedding_ids_equal": same_ids,
        "embedding_max_abs_diff": max_diff,
        "work_dir": work,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
