"""Tower pairs benchmark (a measurement, not a test): every text x image tower pair on the
generated sample, trained, evaluated, exported and run on device.

For each pair: text->image R@1/R@10 on the eval split (the RetrievalEvaluator's own
function, SavedModels), the same R@10 with the query embeddings from the real Task
Library TextEmbedder on the exported text encoder (float, and dynamic-range quantized for
the pretrained text towers), training wall time (inputs: backbone features or decoding;
fit: the heads), image embedding throughput of the exported image SavedModel's bytes
signature (what the ImageEmbedder runs), the text encoder's bytes on device, and the
TextEmbedder's per-query latency p50 (the encoder half of an on-device query; the ScaNN
search adds about 0.2 ms at 20k items, see SEARCHER_FORMAT.md).

Frozen backbones' features are cached across pairs (trainer.feature_cache_dir), so each
backbone meets the data once; the pair's "inputs" seconds show the first computation.

    nice -n 10 .venv/bin/python -m bench.towers_bench [--images 2000] [--pairs minilm_l6:efficientnet_lite0,...]
        [--output f.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import t2i  # noqa: F401  (sets the process environment before TensorFlow)
from bench.run_all import emit

TEXT_TOWERS = ("small_text", "use_multilingual", "minilm_l6")
IMAGE_TOWERS = ("small_cnn", "efficientnet_lite0")
# Per-tower settings the pair uses (the rest are TrainerOptions defaults).
IMAGE_SETTINGS = {"small_cnn": {"image_size": 64}, "efficientnet_lite0": {"image_size": 224}}
TEXT_SETTINGS = {
    "small_text": {"max_tokens": 24},
    "use_multilingual": {"max_tokens": 32},
    "minilm_l6": {"max_tokens": 32},
}
DEVICE_MODULE = "bench.device_text_embed"
EMBED_IMAGES = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pairs", default="", help="comma-separated text:image pairs (default: all six)"
    )
    parser.add_argument("--epochs", type=int, default=0, help="override trainer.epochs")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--output")
    args = parser.parse_args()

    pairs = (
        [tuple(p.split(":")) for p in args.pairs.split(",")]
        if args.pairs
        else [(t, i) for t in TEXT_TOWERS for i in IMAGE_TOWERS]
    )
    from components.coco_example_gen.work import ingest
    from t2i import sample_data

    work = tempfile.mkdtemp(prefix="towers-bench-", dir=args.workdir)
    report = {
        "command": " ".join([os.path.relpath(sys.executable)] + sys.argv),
        "images": args.images,
        "cpu_count": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "pairs": [],
    }
    try:
        collection, examples = os.path.join(work, "collection"), os.path.join(work, "examples")
        sample_data.generate(collection, num_images=args.images, seed=args.seed)
        report["splits"] = ingest(collection, examples)["splits"]
        throughput: dict[str, float] = {}  # per image tower: the head does not change it
        for text_tower, image_tower in pairs:
            print(f"[towers] {text_tower} x {image_tower} ...", file=sys.stderr, flush=True)
            row = measure_pair(text_tower, image_tower, examples, work, args.epochs, throughput)
            report["pairs"].append(row)
            print(f"[towers] {json.dumps(row)}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["load_average_after"] = os.getloadavg()
    emit(report, args.output)


def pair_options(text_tower: str, image_tower: str, cache_dir: str, epochs: int):
    from components.trainer import options as trainer_options

    settings = {
        "text_tower": text_tower,
        "image_tower": image_tower,
        **IMAGE_SETTINGS[image_tower],
        **TEXT_SETTINGS[text_tower],
        "feature_cache_dir": cache_dir,
    }
    if epochs:
        settings["epochs"] = epochs
    options, _ = trainer_options.from_custom_config(settings)
    return options


def measure_pair(
    text_tower: str,
    image_tower: str,
    examples: str,
    work: str,
    epochs: int,
    throughput: dict[str, float],
) -> dict:
    from components.common import examples_io, formats
    from components.common import retrieval_metrics as metrics
    from components.retrieval_evaluator import work as evaluator
    from components.text_encoder_exporter import work as exporter
    from components.text_encoder_exporter.options import ExporterOptions
    from components.trainer import work as train

    name = f"{text_tower}-{image_tower}"
    serving = os.path.join(work, name, "Format-Serving")
    options = pair_options(text_tower, image_tower, os.path.join(work, "feature_cache"), epochs)
    eval_pattern = [os.path.join(examples, "Split-eval", "*")]
    started = time.perf_counter()
    trained = train.train(
        [os.path.join(examples, "Split-train", "*")], eval_pattern, serving, "", options
    )
    run_fn_seconds = time.perf_counter() - started
    wall = trained.summary["wall_seconds"]

    embedded = evaluator.embed_split(examples_io.expand_patterns(eval_pattern, "eval"), serving)
    savedmodel = _recall(
        embedded.text_embeddings, embedded.image_embeddings, embedded.caption_image_index, metrics
    )
    row = {
        "text_tower": text_tower,
        "image_tower": image_tower,
        "image_size": options.image_size,
        "max_tokens": options.max_tokens,
        "epochs": options.epochs,
        "eval_images": int(len(embedded.image_ids)),
        "eval_captions": len(embedded.captions),
        "text_to_image": savedmodel,
        "training_wall_seconds": {
            "inputs": wall.get("inputs"),
            "fit": wall["training"],
            "run_fn": round(run_fn_seconds, 1),
        },
    }
    if image_tower not in throughput:
        throughput[image_tower] = _image_throughput(serving, examples, formats)
    row["embedding_images_per_second"] = throughput[image_tower]

    quantize_options = (False, True) if text_tower != "small_text" else (False,)
    for quantize in quantize_options:
        out = os.path.join(work, name, f"export-{'int8' if quantize else 'float'}")
        try:
            summary = exporter.export_encoders(serving, out, ExporterOptions(quantize=quantize))
        except exporter.ExportCheckError as failed:
            # The files are written before the check: measure them, and say it failed.
            with open(os.path.join(out, formats.EXPORT_SUMMARY)) as f:
                summary = json.load(f)
            summary["check_failed"] = str(failed)[:300]
        device = _device_text(
            os.path.join(out, formats.TEXT_ENCODER_TFLITE), embedded.captions, out
        )
        key = "device_quantized" if quantize else "device_float"
        row[key] = {
            "text_encoder_bytes": summary["text_encoder_bytes"],
            "image_encoder_bytes": summary["image_encoder_bytes"],
            "text_min_cosine_vs_savedmodel": round(summary["check"]["text_min_cosine"], 5),
            "image_min_cosine_vs_savedmodel": round(summary["check"]["image_min_cosine"], 5),
            "export_seconds": summary["export_seconds"],
            "export_check_failed": summary.get("check_failed", ""),
            "query_embed_ms_p50": device["p50_ms"],
            "text_to_image": _recall(
                device["embeddings"],
                embedded.image_embeddings,
                embedded.caption_image_index,
                metrics,
            ),
        }
    if "device_quantized" in row:
        row["quantized_recall_at_10_drop"] = round(
            row["device_float"]["text_to_image"]["recall@10"]
            - row["device_quantized"]["text_to_image"]["recall@10"],
            4,
        )
    return row


def _recall(text_embeddings, image_embeddings, caption_image_index, metrics) -> dict:
    ranks = metrics.text_to_image_ranks(text_embeddings, image_embeddings, caption_image_index)
    summary = metrics.summarize(ranks)
    return {k: round(summary[k], 4) for k in ("recall@1", "recall@10")}


def _image_throughput(serving: str, examples: str, formats) -> float:
    """Images/s of the image SavedModel's bytes signature (decode, resize, encode), batches
    of 64, after one warm-up batch: what the ImageEmbedder's RunInference calls."""
    import tensorflow as tf

    from components.common import examples_io

    files = examples_io.expand_patterns([os.path.join(examples, "Split-index", "*")], "index")
    encoded = [r.image for _, r in zip(range(EMBED_IMAGES), examples_io.iter_records(files))]
    loaded = tf.saved_model.load(os.path.join(serving, formats.MODEL_IMAGE_ENCODER))
    signature = loaded.signatures[formats.SIGNATURE_IMAGE_BYTES]
    signature(tf.constant(encoded[:64]))
    started = time.perf_counter()
    for start in range(0, len(encoded), 64):
        signature(tf.constant(encoded[start : start + 64]))
    return round(len(encoded) / (time.perf_counter() - started), 1)


def _device_text(model_path: str, texts: list[str], work: str) -> dict:
    """Query embeddings and per-query latency from the Task Library (TF-free process)."""
    import numpy as np

    from components.common import tf_free

    out = os.path.join(work, "device_text.npy")
    reply = tf_free.run_module(DEVICE_MODULE, {"model": model_path, "texts": texts, "out": out})
    return {"embeddings": np.load(out), "p50_ms": reply["p50_ms"]}


if __name__ == "__main__":
    main()
