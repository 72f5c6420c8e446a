"""The Trainer's frozen caption features (the largest cost of `t2i run` at collection scale,
bench/scale_bench.py) computed two ways side by side on the same captions: full-width
batches of T tokens, and pretrained.caption_features' length-sorted batches cut to their
longest caption. CPU and wall seconds of each, and the largest difference between them.

    .venv/bin/python -m bench.caption_features_bench --captions 5000 --output captions.json
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time

from bench.run_all import emit


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=5000)
    parser.add_argument("--tower", default="minilm_l6")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--output")
    args = parser.parse_args(argv)

    import numpy as np

    from components.common import bert_tokenizer
    from components.trainer import backbones, pretrained
    from t2i import sample_data

    rng = random.Random(0)
    texts: list[str] = []
    while len(texts) < args.captions:
        texts.extend(sample_data.render_image(rng, 32)[1])
    texts = texts[: args.captions]
    backbone = backbones.load_text_backbone(args.tower, args.max_tokens)
    spec = backbone.tokenizer
    source = spec.files.get("vocab") or spec.files.get("sentencepiece_model")
    tokenize = bert_tokenizer.load(spec.kind, source)
    encoded = bert_tokenizer.encode(tokenize, texts, spec.max_tokens or args.max_tokens)
    stacked = np.stack(encoded.as_tuple(), axis=1)
    lengths = stacked[:, 2].sum(axis=1)

    def full_width(model, rows):
        """What the Trainer did before: batches in caption order, all T tokens wide."""
        batches = (
            rows[i : i + pretrained.FEATURE_BATCH]
            for i in range(0, len(rows), pretrained.FEATURE_BATCH)
        )
        return np.concatenate(
            [model([b[:, 0], b[:, 1], b[:, 2]], training=False).numpy() for b in batches]
        )

    runs = {}
    outputs = {}
    for name, compute in (
        ("full_width", full_width),
        ("cut_to_length", pretrained.caption_features),
    ):
        compute(backbone.model, stacked[:64])  # warm-up
        cpu, wall = _cpu_seconds(), time.perf_counter()
        outputs[name] = compute(backbone.model, stacked)
        runs[name] = {
            "cpu_seconds": round(_cpu_seconds() - cpu, 1),
            "wall_seconds": round(time.perf_counter() - wall, 1),
        }
    result = {
        "tower": args.tower,
        "captions": len(texts),
        "tokens_mean": round(float(lengths.mean()), 1),
        "tokens_max": int(lengths.max()),
        "width": int(stacked.shape[-1]),
        "runs": runs,
        "cpu_ratio": round(
            runs["full_width"]["cpu_seconds"] / runs["cut_to_length"]["cpu_seconds"], 2
        ),
        "wall_ratio": round(
            runs["full_width"]["wall_seconds"] / runs["cut_to_length"]["wall_seconds"], 2
        ),
        "max_abs_difference": float(np.abs(outputs["full_width"] - outputs["cut_to_length"]).max()),
        "load_average": os.getloadavg(),
    }
    emit(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
