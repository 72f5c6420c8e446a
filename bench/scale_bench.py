"""Collection-scale pipeline benchmark: the whole DAG (`t2i run`, default towers) on
generated collections of photo-like 640x480 JPEGs (100-200 KB each, t2i/sample_data.py
`photos=True`) at two sizes; per component wall time, peak RSS and disk written, each
component's growth exponent between the sizes, and a fitted figure at COCO's 123,287.

    .venv/bin/python -m bench.scale_bench --sizes 2000,5000 --output scale.json
    ... --sizes 1000,2000,5000 --reuse scale.json   # runs only 1,000; steps' exponents too

Growth exponent b of a component: its seconds t grow as n^b between the two sizes,
b = log(t2 / t1) / log(n2 / n1); the fitted seconds at 123,287 images are
t2 * (123287 / n2)^b. b <= 1 is the goal (nothing grows faster than linearly). Fixed
costs (process start, TFX bookkeeping) make b < 1 at small sizes, so the fit is an
upper estimate for components with a large fixed part only if b stays put at larger
sizes: the larger the two sizes, the better the fit. The machine may be shared: the load
average is recorded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

from bench.run_all import _latest_timings, emit, run_measured

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COCO_IMAGES = 123_287
PIPELINE_NAME = "t2i-searcher"


def du_bytes(path: str) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


# --towers small: the from-scratch towers (what `make demo` trains), so that `make bench`'s
# quick sizes fit its budget; the pretrained defaults' fixed costs (loading and converting
# MiniLM, 300 head steps) are minutes per run on two cores.
SMALL_TOWERS = ["trainer.image_tower=small_cnn", "trainer.text_tower=small_text"]


def run_size(n: int, work: str, overrides: list[str] = ()) -> dict:
    from t2i import sample_data

    data = os.path.join(work, f"data-{n}")
    root = os.path.join(work, f"runs-{n}")
    started = time.perf_counter()
    generated = sample_data.generate(data, num_images=n, photos=True)
    generate_seconds = time.perf_counter() - started
    data_bytes = du_bytes(data)
    t2i = os.path.join(os.path.dirname(sys.executable), "t2i")
    load_before = os.getloadavg()
    sets = [arg for override in overrides for arg in ("--set", override)]
    child = run_measured([t2i, "run", "--data", data, "--root", root, *sets])
    timings = _latest_timings(root)
    pipeline_dir = os.path.join(root, "pipelines", PIPELINE_NAME)
    disk = {name: du_bytes(os.path.join(pipeline_dir, name)) for name in os.listdir(pipeline_dir)}
    components = []
    for row in timings["components"]:
        components.append(
            {
                "component": row["component"],
                "seconds": row["seconds"],
                "peak_rss_mb": row.get("peak_rss_mb"),
                "disk_mb": round(disk.get(row["component"], 0) / 1e6, 1),
                "status": row.get("status"),
            }
        )
    result = {
        "images": n,
        "generate_seconds": round(generate_seconds, 1),
        "data_mb": round(data_bytes / 1e6, 1),
        "mean_jpeg_kb": round(data_bytes / n / 1e3, 1),
        "splits": generated.get("splits"),
        "process_wall_seconds": child["wall_seconds"],
        # The local runner resets the process's high-water mark per component (VmHWM), and
        # that reset reaches the kernel's ru_maxrss too: the run's peak is the largest
        # component peak.
        "process_peak_rss_mb": max(
            [child["peak_rss_mb"]] + [c["peak_rss_mb"] or 0 for c in components]
        ),
        "root_disk_mb": round(du_bytes(root) / 1e6, 1),
        "succeeded": timings["succeeded"],
        "components": components,
        "inside": inside_components(pipeline_dir),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    return result


def inside_components(pipeline_dir: str) -> dict:
    """Where the time goes inside the two components that touch every image: the
    Trainer's phases and towers (training_summary.json) and the ImageEmbedder's start-up
    and steady rate (embeddings_summary.json)."""
    import glob

    inside = {}
    for path in glob.glob(
        os.path.join(pipeline_dir, "Trainer", "model", "*", "*", "training_summary.json")
    ):
        with open(path) as f:
            summary = json.load(f)
        inside["Trainer"] = {
            "wall_seconds": summary["wall_seconds"],
            # Backbone features' seconds: only the pretrained towers have them.
            "towers": summary.get("towers"),
            "train_images": summary["train_images"],
            "eval_images": summary["eval_images"],
            "eval_captions": summary["eval_captions"],
            "epochs": summary["epochs"],
            "steps": summary["steps"],
        }
    for path in glob.glob(
        os.path.join(pipeline_dir, "ImageEmbedder", "embeddings", "*", "embeddings_summary.json")
    ):
        with open(path) as f:
            summary = json.load(f)
        inside["ImageEmbedder"] = {
            key: summary.get(key)
            for key in ("count", "wall_seconds", "startup_seconds", "steady_images_per_second")
        }
    return inside


def exponent(small_n: int, small_value: float, large_n: int, large_value: float) -> float:
    """b in value ~ n^b between the two sizes."""
    return math.log(large_value / small_value) / math.log(large_n / small_n)


def at_coco(large_n: int, large_value: float, b: float) -> float:
    """The value fitted at COCO's size from the larger size and the exponent."""
    return round(large_value * (COCO_IMAGES / large_n) ** b, 1)


def growth(small: dict, large: dict) -> list[dict]:
    """Per component: growth exponent between the two sizes and the fitted figure at
    COCO's size (seconds, and disk by the same rule)."""
    n1, n2 = small["images"], large["images"]
    before = {c["component"]: c for c in small["components"]}
    rows = []
    for c in large["components"]:
        first = before.get(c["component"])
        if not first:
            continue
        row = {
            "component": c["component"],
            "seconds_small": first["seconds"],
            "seconds_large": c["seconds"],
        }
        for key, unit in (("seconds", "seconds"), ("disk_mb", "disk_mb")):
            a, b = first[key] or 0, c[key] or 0
            if a > 0.05 and b > 0.05:
                b_fit = exponent(n1, a, n2, b)
                row[f"{unit}_exponent"] = round(b_fit, 2)
                row[f"{unit}_at_coco"] = at_coco(n2, b, b_fit)
        rows.append(row)
    whole_a, whole_b = small["process_wall_seconds"], large["process_wall_seconds"]
    whole = exponent(n1, whole_a, n2, whole_b)
    rows.append(
        {
            "component": "whole `t2i run` (process)",
            "seconds_small": whole_a,
            "seconds_large": whole_b,
            "seconds_exponent": round(whole, 2),
            "seconds_at_coco": at_coco(n2, whole_b, whole),
        }
    )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,5000")
    parser.add_argument("--output")
    parser.add_argument("--workdir", default=None)
    parser.add_argument(
        "--towers",
        choices=("default", "small"),
        default="default",
        help="default: the Trainer's defaults (pretrained); small: small_cnn / small_text",
    )
    parser.add_argument(
        "--reuse",
        help="an earlier scale JSON (same code): its sizes are taken from it, not run again",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    from components.trainer.options import TrainerOptions

    options = TrainerOptions()
    overrides = SMALL_TOWERS if args.towers == "small" else []
    towers = {"image_tower": options.image_tower, "text_tower": options.text_tower}
    towers.update(override.split(".", 1)[1].split("=") for override in overrides)
    result = {"towers": towers, "sizes": []}
    earlier = {}
    if args.reuse:
        with open(args.reuse) as f:
            earlier = {
                row["images"]: dict(row, reused_from=args.reuse) for row in json.load(f)["sizes"]
            }
    with tempfile.TemporaryDirectory(prefix="t2i-scale-", dir=args.workdir) as work:
        for n in sizes:
            if n in earlier:
                result["sizes"].append(earlier[n])
                continue
            print(f"[scale] {n} images ...", flush=True)
            result["sizes"].append(run_size(n, work, overrides))
            print(json.dumps(result["sizes"][-1]), flush=True)
    if len(sizes) >= 2:
        result["growth"] = growth(result["sizes"][0], result["sizes"][-1])
    if len(sizes) >= 3:
        # Each step on its own: an exponent that rises with size is what grows badly.
        result["growth_steps"] = [
            {"from": a["images"], "to": b["images"], "growth": growth(a, b)}
            for a, b in zip(result["sizes"], result["sizes"][1:])
        ]
    emit(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
