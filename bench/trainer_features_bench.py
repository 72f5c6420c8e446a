"""The Trainer's frozen backbone features (most of `t2i run`'s time at collection scale,
bench/scale_bench.py), the way it computed them before and the way it does now, side by
side in one process on the same inputs:

- images (EfficientNet-Lite0 on photo-like 640x480 JPEGs, ingested as the pipeline does):
  the model called eagerly per batch, against components/trainer/pretrained.py's graph call;
- captions (MiniLM): full-width 32-token batches called eagerly, against
  pretrained.caption_features (length-sorted batches cut to their longest caption, graph).

CPU and wall seconds of each, the ratios, and the largest difference between the outputs.

    .venv/bin/python -m bench.trainer_features_bench --images 500 --captions 2000 --output f.json
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time

from bench.run_all import emit


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _side_by_side(before, after) -> dict:
    """Runs each once as a warm-up (tracing, caches), then each timed; returns the figures."""
    import numpy as np

    before(), after()
    runs, outputs = {}, {}
    for name, compute in (("before", before), ("now", after)):
        cpu, wall = _cpu_seconds(), time.perf_counter()
        outputs[name] = compute()
        runs[name] = {
            "cpu_seconds": round(_cpu_seconds() - cpu, 1),
            "wall_seconds": round(time.perf_counter() - wall, 1),
        }
    return {
        "runs": runs,
        "cpu_ratio": round(runs["before"]["cpu_seconds"] / runs["now"]["cpu_seconds"], 2),
        "wall_ratio": round(runs["before"]["wall_seconds"] / runs["now"]["wall_seconds"], 2),
        "max_abs_difference": float(np.abs(outputs["before"] - outputs["now"]).max()),
    }


def image_features(count: int, work: str) -> dict:
    import numpy as np
    import tensorflow as tf

    from components.coco_example_gen.work import ingest
    from components.common import examples_io
    from components.trainer import backbones, pretrained
    from t2i import sample_data

    sample_data.generate(os.path.join(work, "photos"), num_images=count, photos=True)
    ingest(os.path.join(work, "photos"), os.path.join(work, "examples"))
    files = examples_io.expand_patterns(
        [os.path.join(work, "examples", f"Split-{split}", "*") for split in ("train", "eval")],
        "images",
    )
    split = pretrained.read_split(files)
    backbone = backbones.load_image_backbone("efficientnet_lite0", 224)

    def batches():
        return split.pixel_batches(224, pretrained.FEATURE_BATCH)

    def eager():
        return np.concatenate(
            [backbone.model(tf.cast(b, tf.float32), training=False).numpy() for b in batches()]
        )

    def graph():
        return pretrained.image_features(backbone.model, batches())

    return {"tower": backbone.name, "images": len(split.image_ids), **_side_by_side(eager, graph)}


def caption_features(count: int) -> dict:
    import numpy as np

    from components.common import bert_tokenizer
    from components.trainer import backbones, pretrained
    from t2i import sample_data

    rng = random.Random(0)
    texts: list[str] = []
    while len(texts) < count:
        texts.extend(sample_data.render_image(rng, 32)[1])
    texts = texts[:count]
    backbone = backbones.load_text_backbone("minilm_l6", 32)
    spec = backbone.tokenizer
    source = spec.files.get("vocab") or spec.files.get("sentencepiece_model")
    encoded = bert_tokenizer.encode(bert_tokenizer.load(spec.kind, source), texts, spec.max_tokens)
    stacked = np.stack(encoded.as_tuple(), axis=1)
    lengths = stacked[:, 2].sum(axis=1)

    def full_width_eager():
        step = pretrained.FEATURE_BATCH
        return np.concatenate(
            [
                backbone.model(
                    list(np.moveaxis(stacked[i : i + step], 1, 0)), training=False
                ).numpy()
                for i in range(0, len(stacked), step)
            ]
        )

    return {
        "tower": backbone.name,
        "captions": len(texts),
        "tokens_mean": round(float(lengths.mean()), 1),
        "width": int(stacked.shape[-1]),
        **_side_by_side(
            full_width_eager, lambda: pretrained.caption_features(backbone.model, stacked)
        ),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--captions", type=int, default=2000)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    import t2i  # noqa: F401  (sets the process environment before TensorFlow)

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="t2i-features-") as work:
        result = {
            "images": image_features(args.images, work),
            "captions": caption_features(args.captions),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        }
    emit(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
