"""Pretrained backbone benchmark (a measurement, not a test): for each catalogue tower, the load
time (from the installed package, in a fresh process so imports count), features per second on
CPU (images at 224 px, captions at max_tokens), and its size as a TFLite flatbuffer (built-in
ops only, float32). Prints one JSON object, also per tower on stderr as it goes.

    .venv/bin/python bench/backbones_bench.py [--towers efficientnet_lite0,use_multilingual,minilm_l6]
        [--image-size 224] [--max-tokens 32] [--output f.json]

Each tower is measured in its own child process, one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

IMAGE_TOWERS = ("efficientnet_lite0",)
TEXT_TOWERS = ("use_multilingual", "minilm_l6")
CAPTIONS = [
    "a dog running on the beach",
    "two cats sleeping on a red sofa",
    "a man riding a bicycle down a busy street",
    "a plate of food with broccoli",
    "a yellow bus parked next to a tall building",
    "children playing soccer in a park",
    "an old woman holding an umbrella in the rain",
    "a train crossing a bridge at sunset",
]


def _measure(tower: str, image_size: int, max_tokens: int) -> dict:
    """Runs in the child process."""
    start = time.perf_counter()
    import numpy as np

    import t2i  # noqa: F401  (process environment before TensorFlow)
    from components.trainer import backbones
    from components.trainer.backbones import tflite

    imported = time.perf_counter()
    if tower in IMAGE_TOWERS:
        backbone = backbones.load_image_backbone(tower, image_size)
        batch = np.random.default_rng(0).uniform(0, 255, (32, image_size, image_size, 3))
        inputs = batch.astype(np.float32)
        unit = "images"
    else:
        backbone = backbones.load_text_backbone(tower, max_tokens)
        ids = np.random.default_rng(0).integers(5, 1000, (64, max_tokens), dtype=np.int32)
        lengths = np.random.default_rng(1).integers(6, max_tokens, 64)
        mask = (np.arange(max_tokens)[None] < lengths[:, None]).astype(np.int32)
        inputs = [ids * mask, np.zeros_like(ids), mask]
        unit = "captions"
    loaded = time.perf_counter()
    predict = backbone.model.predict_on_batch
    predict(inputs)  # warm-up: graph tracing
    rounds, begin = 0, time.perf_counter()
    while rounds < 3 or time.perf_counter() - begin < 10:
        predict(inputs)
        rounds += 1
    per_second = (
        rounds * len(inputs if unit == "images" else inputs[0]) / (time.perf_counter() - begin)
    )
    convert_start = time.perf_counter()
    flatbuffer = tflite.convert(
        backbone.model, length=0 if unit == "images" else backbone.tokenizer.max_tokens
    )
    return {
        "tower": tower,
        "feature_dim": backbone.feature_dim,
        "import_seconds": round(imported - start, 2),
        "load_seconds": round(loaded - imported, 2),
        f"{unit}_per_second": round(per_second, 1),
        "batch": len(inputs if unit == "images" else inputs[0]),
        "tflite_bytes": len(flatbuffer),
        "tflite_convert_seconds": round(time.perf_counter() - convert_start, 1),
        "licence": backbone.licence,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--towers", default=",".join(IMAGE_TOWERS + TEXT_TOWERS))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--output", help="also write the JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.image_size, args.max_tokens)))
        return
    report = {
        "image_size": args.image_size,
        "max_tokens": args.max_tokens,
        "load_average_at_start": os.getloadavg()[0],
        "towers": [],
    }
    for tower in args.towers.split(","):
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                tower,
                "--image-size",
                str(args.image_size),
                "--max-tokens",
                str(args.max_tokens),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            sys.stderr.write(done.stderr[-3000:])
            raise SystemExit(f"{tower}: the measurement failed (exit {done.returncode})")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result), file=sys.stderr)
        report["towers"].append(result)
    report["load_average_at_end"] = os.getloadavg()[0]
    text = json.dumps(report)
    if args.output:
        with open(args.output, "w") as f:
            f.write(json.dumps(report, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
