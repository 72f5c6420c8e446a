"""Growth of the two components that read every example: CocoExampleGen's ingest and the
RetrievalEvaluator's evaluate, alone, at two collection sizes, each size measured
`--repeats` times in alternating order (small, large, then large, small, ...).

bench/scale_bench.py times each size once, inside whole pipeline runs, beside the other
components' page-cache and disk traffic. An exponent a few hundredths above 1 there
cannot be told from noise by one measurement: this bench repeats just those two, on the
same photo-like JPEGs (t2i/sample_data.py `photos=True`) with the configured defaults
and a model with the default towers (trained on a small sample first: the evaluator's
cost is its towers' forward passes, whatever the weights). Exponents come from the median
seconds at each size, and from each repeat on its own.

    .venv/bin/python -m bench.component_growth_bench --sizes 5000,20000 --repeats 2 \\
        --output growth.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import t2i  # noqa: F401  (sets the process environment before TensorFlow)
from bench.run_all import emit
from bench.scale_bench import at_coco, exponent

TRAIN_IMAGES = 400


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000", help="two sizes: small,large")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    small, large = sorted(int(s) for s in args.sizes.split(","))
    from t2i import sample_data
    from t2i.configs import load_config

    config = load_config(None, [])
    result = {
        "command": " ".join([os.path.relpath(sys.executable)] + sys.argv),
        "cpu_count": os.cpu_count(),
        "load_before": os.getloadavg(),
        "towers": {
            "image_tower": config.trainer.image_tower,
            "text_tower": config.trainer.text_tower,
        },
        "sizes": [small, large],
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="t2i-growth-", dir=args.workdir) as work:
        serving = _train_model(config, work)
        collections = {}
        for n in (small, large):
            collections[n] = os.path.join(work, f"data-{n}")
            print(f"[growth] generating {n:,} photo-like JPEGs ...", file=sys.stderr, flush=True)
            sample_data.generate(collections[n], num_images=n, photos=True)
        for repeat in range(args.repeats):
            order = (small, large) if repeat % 2 == 0 else (large, small)
            for n in order:
                run = _measure(config, collections[n], serving, work, n)
                result["runs"].append({"repeat": repeat, "images": n, **run})
                print(f"[growth] {run}", file=sys.stderr, flush=True)
    result["growth"] = growth(result["runs"], small, large)
    result["load_after"] = os.getloadavg()
    emit(result, args.output)
    return 0


def _train_model(config, work: str) -> str:
    """A Model artifact with the configured towers, trained on a small sample."""
    from components.coco_example_gen.work import ingest
    from components.trainer import options as trainer_options, work as trainer
    from t2i import sample_data

    print(f"[growth] training the towers on {TRAIN_IMAGES} images ...", file=sys.stderr, flush=True)
    collection, examples = os.path.join(work, "train-data"), os.path.join(work, "train-examples")
    sample_data.generate(collection, num_images=TRAIN_IMAGES)
    ingest(collection, examples)
    options, _ = trainer_options.from_custom_config(vars(config.trainer))
    serving = os.path.join(work, "model", "Format-Serving")
    trainer.train(
        [os.path.join(examples, "Split-train", "*")],
        [os.path.join(examples, "Split-eval", "*")],
        serving,
        os.path.join(work, "model-run"),
        options,
    )
    return serving


def _measure(config, collection: str, serving: str, work: str, n: int) -> dict:
    """Seconds of ingest (into fresh examples) and of evaluate on their eval split."""
    from components.coco_example_gen.work import ingest
    from components.retrieval_evaluator import work as evaluator

    examples = os.path.join(work, f"examples-{n}")
    shutil.rmtree(examples, ignore_errors=True)
    started = time.perf_counter()
    ingested = ingest(
        collection,
        examples,
        split_mode=config.data.split,
        eval_fraction=config.data.eval_fraction,
        max_image_pixels=config.data.max_image_pixels,
        item_metadata=config.data.item_metadata,
    )
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    evaluated = evaluator.evaluate(
        [os.path.join(examples, "Split-eval", "*")],
        serving,
        os.path.join(work, f"evaluation-{n}"),
        min_recall_at_10=config.evaluator.min_recall_at_10,
        max_regression=config.evaluator.max_regression,
        contact_sheet_queries=config.evaluator.contact_sheet_queries,
    )
    evaluate_seconds = time.perf_counter() - started
    shutil.rmtree(examples, ignore_errors=True)  # 6.7 GB at 20,000 photos
    return {
        "CocoExampleGen": round(ingest_seconds, 1),
        "RetrievalEvaluator": round(evaluate_seconds, 1),
        "splits": ingested["splits"],
        "eval_captions": evaluated["eval_captions"],
        "load": os.getloadavg(),
    }


def growth(runs: list[dict], small: int, large: int) -> list[dict]:
    """Per component: seconds at each size, the exponent of the medians and of each
    repeat's own pair, and the fitted seconds at COCO's size."""
    rows = []
    for component in ("CocoExampleGen", "RetrievalEvaluator"):
        seconds = {n: [r[component] for r in runs if r["images"] == n] for n in (small, large)}
        a, b = statistics.median(seconds[small]), statistics.median(seconds[large])
        b_fit = exponent(small, a, large, b)
        rows.append(
            {
                "component": component,
                "seconds_small": seconds[small],
                "seconds_large": seconds[large],
                "exponent_of_medians": round(b_fit, 3),
                "exponent_per_repeat": [
                    round(exponent(small, x, large, y), 3)
                    for x, y in zip(seconds[small], seconds[large])
                ],
                "seconds_at_coco": at_coco(large, b, b_fit),
            }
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
