"""`make bench` / `make bench-full`: every performance figure the project claims, measured
side by side in one run on the machine at hand.

    .venv/bin/python -m bench.run_all --quick   # <= 15 minutes on 2 cores
    .venv/bin/python -m bench.run_all --full    # COCO scale: 123,287 index items, 50,000 images

Steps (each a child process, its peak RSS taken from the kernel's accounting of it; the
sizes of each mode are the constants below the imports):
  searcher   bench/searcher_bench.py: recall@10 vs exact, Task Library p50/p95, bytes per
             item, build time for the blog config, our default and the auto-tuned config;
             exact numpy and server-side ScaNN latency beside them
  embedder   bench/embedder_bench.py (--full only): images/s in-process and with 1 and 2
             Beam workers, small tower
  training   bench/train_bench.py: the Trainer with the default towers: examples/s, wall
             time, eval R@1/R@10
  towers     bench/towers_bench.py (--full only): text x image tower pairs (all six of
             small_text, use_multilingual, minilm_l6 x small_cnn, efficientnet_lite0; with
             --only in quick mode, the default and the small pair) on the sample: R@1/R@10
             (SavedModel and on device, float and quantized), training time, images/s, text
             encoder bytes on device, query embedding p50
  pipeline   `t2i run` on the sample (--full only; first run, cached re-run), per
             component with peak memory, the default towers (with --only in quick mode,
             the small ones, as `make demo`)
  rebuild    bench/rebuild_bench.py (--full only): an incremental rebuild adding 10% new
             images against a full rebuild, both from the same state
  embedder_tower  bench/embedder_bench.py --tower efficientnet_lite0 (the Trainer's default,
             pretrained): the ImageEmbedder against a plain TensorFlow loop, same model and
             threads
  scale      bench/scale_bench.py: `t2i run` on photo-like 640x480 JPEG collections at two
             sizes (the small towers in quick mode, the default pretrained towers with
             --full): per component seconds, peak RSS, disk, growth exponents and the
             fitted figure at 123,287 images
  features   bench/trainer_features_bench.py: the Trainer's frozen image (Lite0) and caption
             (MiniLM) features as computed before (eager, full width) and now, side by side
  growth     bench/component_growth_bench.py (--full only): CocoExampleGen's ingest and the
             RetrievalEvaluator alone at the scale step's sizes, repeated in alternating
             order: their growth exponents with the noise of one measurement shown
The searcher step's frontier is also drawn: runs/bench/<timestamp>-frontier.png.

Writes runs/bench/<timestamp>.json and .md, then regenerates the README's Performance
section from them (bench/readme.py). `--assemble step=file.json,...` does the writing
only, from step outputs measured earlier one by one (bench modules' --output). Machines
here are shared and noisy: ratios measured within one run are what to trust.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(REPO, "runs", "bench")
SAMPLE_IMAGES = 2000
NEW_FRACTION = 0.1
# Quick mode's sizes keep the whole run within 15 minutes on 2 cores: each step is a child
# process that pays TensorFlow's import and Beam's start-up, so every size here is the
# smallest at which the step's figure is still more than those fixed costs.
# The on-device searcher's items (the frontier and the auto-tuned default).
SEARCHER_SIZES = {"quick": "20000", "full": "20000,123287"}
# The ImageEmbedder's runners with the small tower (worker scaling); the plain-loop ratio
# is the embedder_tower step's.
EMBEDDER_SIZES = {"quick": "1000", "full": "2000,50000"}
EMBEDDER_RUNS = {
    "quick": "in_memory,multi_processing_1,multi_processing_1_one_thread,multi_processing_2",
    "full": "",  # all of bench/embedder_bench.py's runs
}
# The ImageEmbedder against a plain TF loop with the pretrained tower (~30 images/s here).
EMBEDDER_TOWER_SIZES = {"quick": "1000", "full": "2000,20000"}
EMBEDDER_TOWER_RUNS = {
    "quick": "tf_loop,multi_processing_1",
    "full": "tf_loop,multi_processing_1,in_memory",
}
# The Trainer alone with the default towers (frozen features dominate: ~17 images/s).
TRAINING_IMAGES = {"quick": 1000, "full": SAMPLE_IMAGES}
# Six tower pairs, two of them with pretrained backbones' features to compute: the 2,000-image
# sample took 78 min on a loaded machine. Quick: the default pair and the small one on 400.
TOWERS_IMAGES = {"quick": 400, "full": SAMPLE_IMAGES}
TOWERS_PAIRS = {"quick": "small_text:small_cnn,minilm_l6:efficientnet_lite0", "full": ""}
# `t2i run` as `make demo` runs it (small towers; the defaults with --full).
PIPELINE_IMAGES = {"quick": 1000, "full": SAMPLE_IMAGES}
# The fixed costs (Beam start-up, TFX bookkeeping) weigh on both rebuilds, more so at the
# quick size: its ratio is the less favourable one.
REBUILD_IMAGES = {"quick": 10000, "full": 50000}
# Collection-scale `t2i run` on photo-like 640x480 JPEGs (bench/scale_bench.py).
# Quick: the small towers (the pretrained ones' fixed costs alone are minutes per run).
SCALE_SIZES = {"quick": "500,1000", "full": "5000,20000"}
SCALE_TOWERS = {"quick": "small", "full": "default"}
FEATURES = {"quick": (200, 1000), "full": (1000, 10000)}  # images, captions
# Steps only --full (or --only) runs. With every step in quick mode, on a quiet machine,
# the seven steps before scale alone took 18.5 minutes: the small tower's worker scaling
# (108 s), the tower pairs (219 s) and the rebuild (302 s, mostly its first full run) are
# older issues' figures that quick sizes do not make cheap. Without them the run took
# 15.4 minutes; `pipeline` (144 s) is the scale step's `t2i run` again on the sample, so
# quick mode has the scale step's. The growth repeats take minutes each at 20,000
# photos, with nothing to learn at quick sizes (fixed costs).
FULL_ONLY_STEPS = ("embedder", "towers", "pipeline", "rebuild", "growth")
GROWTH_REPEATS = 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_true",
        help="the quick sizes (default; within 15 minutes on 2 cores)",
    )
    size.add_argument(
        "--full",
        action="store_true",
        help="COCO scale: 123,287 searcher items, collections of 20,000-50,000 images",
    )
    parser.add_argument("--only", help="comma-separated steps: " + ",".join(STEPS))
    parser.add_argument(
        "--assemble",
        help="no steps run: comma-separated step=JSON pairs, each the --output of that "
        "step's bench module run earlier (e.g. searcher=s.json,scale=c.json), written up "
        "as one result and into the README",
    )
    args = parser.parse_args(argv)
    mode = "full" if args.full else "quick"
    steps = (
        args.only.split(",")
        if args.only
        else [s for s in STEPS if mode == "full" or s not in FULL_ONLY_STEPS]
    )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results = {"mode": mode, "started": stamp, "machine": machine(), "steps": {}}
    failures: dict[str, str] = {}
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"--only: unknown step(s) {', '.join(unknown)} (steps: {', '.join(STEPS)})")
    if args.assemble:
        results["assembled_from"] = {}
        for pair in args.assemble.split(","):
            step, path = pair.split("=", 1)
            if step not in STEPS:
                parser.error(f"--assemble: unknown step {step!r} (steps: {', '.join(STEPS)})")
            results["steps"][step] = _json_file(path)
            results["assembled_from"][step] = path
    else:
        with tempfile.TemporaryDirectory(prefix="t2i-bench-") as work:
            for step in steps:
                print(f"[bench] {step} ...", flush=True)
                started = time.perf_counter()
                try:
                    results["steps"][step] = STEPS[step](work, mode)
                except Exception as error:  # the other steps' figures are still worth keeping
                    failures[step] = f"{type(error).__name__}: {error}"[-3000:]
                    last_line = failures[step].strip().splitlines()[-1]
                    print(f"[bench] {step} FAILED: {last_line}", flush=True)
                    continue
                results["steps"][step]["step_seconds"] = round(time.perf_counter() - started, 1)
                print(f"[bench] {step} done in {time.perf_counter() - started:.0f} s", flush=True)
    results["machine"]["load_average_after"] = os.getloadavg()
    if failures:
        results["failed_steps"] = failures
    json_path = write_results(results, stamp)
    print(f"[bench] wrote {json_path} and the README's Performance section")
    if failures:
        print(f"[bench] failed steps: {', '.join(failures)} (their errors are in {json_path})")
        return 1
    return 0


def write_results(results: dict, stamp: str) -> str:
    """runs/bench/<stamp>.json, .md and -frontier.png, and the README's Performance
    section; returns the JSON's path."""
    os.makedirs(BENCH_DIR, exist_ok=True)
    json_path = os.path.join(BENCH_DIR, f"{stamp}.json")
    if results["steps"].get("searcher", {}).get("sizes"):
        from bench import frontier_plot

        png = frontier_plot.write(
            results["steps"]["searcher"], os.path.join(BENCH_DIR, f"{stamp}-frontier.png")
        )
        results["frontier_png"] = os.path.relpath(png, REPO)
    with open(json_path, "w") as f:
        json.dump(results, f, indent=2)
    from bench import readme

    markdown = readme.markdown(results)
    with open(os.path.join(BENCH_DIR, f"{stamp}.md"), "w") as f:
        f.write(markdown)
    readme.update_readme(os.path.join(REPO, "README.md"), markdown, json_path)
    print(markdown)
    return json_path


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_before": os.getloadavg(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_measured(args: list[str]) -> dict:
    """Runs a child to completion: its wall time, its own peak RSS (wait4's accounting of
    it and the descendants it reaped) and its output; a failure raises with its stderr."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(args, stdout=out, stderr=err, text=True, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed ({process.returncode}):\n{stderr[-3000:]}")
    return {
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "stdout": stdout,
        "stderr": stderr,
    }


def _json_file(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def emit(result: dict, output: str | None) -> None:
    """A bench module's result: printed as JSON, and written to its --output (the file a
    step or `--assemble` reads) when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if output:
        with open(output, "w") as f:
            f.write(text + "\n")


# ----------------------------------------------------------------------------- steps


def bench_child(work: str, name: str, command: list[str]) -> dict:
    """Runs a bench module that writes its JSON to `--output`: that JSON, with the child's
    wall time and peak RSS. `command` is what follows the interpreter."""
    out = os.path.join(work, f"{name}.json")
    child = run_measured([sys.executable, *command, "--output", out])
    return {
        **_json_file(out),
        "wall_seconds": child["wall_seconds"],
        "peak_rss_mb": child["peak_rss_mb"],
    }


def searcher_step(work: str, mode: str) -> dict:
    return bench_child(
        work, "searcher", ["-m", "bench.searcher_bench", "--sizes", SEARCHER_SIZES[mode]]
    )


def embedder_step(work: str, mode: str) -> dict:
    return bench_child(
        work,
        "embedder",
        [
            "bench/embedder_bench.py",
            "--sizes",
            EMBEDDER_SIZES[mode],
            "--runs",
            EMBEDDER_RUNS[mode],
            "--skip-tmp",
        ],
    )


def embedder_tower_step(work: str, mode: str) -> dict:
    """The ImageEmbedder against a plain TensorFlow loop over the same records, same model
    and threads, with the Trainer's default pretrained image tower (EfficientNet-Lite0)."""
    return bench_child(
        work,
        "embedder_tower",
        [
            "bench/embedder_bench.py",
            "--sizes",
            EMBEDDER_TOWER_SIZES[mode],
            "--tower",
            "efficientnet_lite0",
            "--runs",
            EMBEDDER_TOWER_RUNS[mode],
            "--skip-tmp",
        ],
    )


def scale_step(work: str, mode: str) -> dict:
    """bench/scale_bench.py: the whole DAG on photo-like collections at two sizes."""
    return bench_child(
        work,
        "scale",
        [
            "-m",
            "bench.scale_bench",
            "--sizes",
            SCALE_SIZES[mode],
            "--towers",
            SCALE_TOWERS[mode],
            "--workdir",
            work,
        ],
    )


def features_step(work: str, mode: str) -> dict:
    images, captions = FEATURES[mode]
    return bench_child(
        work,
        "features",
        [
            "-m",
            "bench.trainer_features_bench",
            "--images",
            str(images),
            "--captions",
            str(captions),
        ],
    )


def growth_step(work: str, mode: str) -> dict:
    return bench_child(
        work,
        "growth",
        [
            "-m",
            "bench.component_growth_bench",
            "--sizes",
            SCALE_SIZES["full"],
            "--repeats",
            str(GROWTH_REPEATS),
            "--workdir",
            work,
        ],
    )


def training_step(work: str, mode: str) -> dict:
    return bench_child(
        work, "training", ["bench/train_bench.py", "--images", str(TRAINING_IMAGES[mode])]
    )


def towers_step(work: str, mode: str) -> dict:
    return bench_child(
        work,
        "towers",
        [
            "-m",
            "bench.towers_bench",
            "--images",
            str(TOWERS_IMAGES[mode]),
            "--pairs",
            TOWERS_PAIRS[mode],
            "--workdir",
            work,
        ],
    )


def pipeline_step(work: str, mode: str) -> dict:
    """`t2i run` as a user types it, on the sample: first run and cached re-run."""
    from t2i import sample_data

    data = os.path.join(work, "data")
    root = os.path.join(work, "runs")
    images = PIPELINE_IMAGES[mode]
    sample_data.generate(data, num_images=images, spans=1)
    t2i = os.path.join(os.path.dirname(sys.executable), "t2i")
    # Quick: the small towers, as `make demo` trains them on this sample.
    sets = [] if mode == "full" else ["--set", "trainer.image_tower=small_cnn"]
    sets += [] if mode == "full" else ["--set", "trainer.text_tower=small_text"]
    result = {"images": images, "overrides": sets}
    for name in ("first_run", "cached_rerun"):
        child = run_measured([t2i, "run", "--data", data, "--root", root, *sets])
        result[name] = {
            "process_wall_seconds": child["wall_seconds"],
            "process_peak_rss_mb": child["peak_rss_mb"],
            **_latest_timings(root),
        }
    return result


def rebuild_step(work: str, mode: str) -> dict:
    """bench/rebuild_bench.py: an incremental rebuild adding 10% new images against a full
    rebuild, both started from the same pipeline root."""
    return bench_child(
        work,
        "rebuild",
        [
            "bench/rebuild_bench.py",
            "--images",
            str(REBUILD_IMAGES[mode]),
            "--new-fraction",
            str(NEW_FRACTION),
            "--workdir",
            work,
        ],
    )


def _latest_timings(root: str) -> dict:
    """The newest run's per-component status, seconds and peak RSS (local_runner writes them)."""
    logs = os.path.join(root, "logs")
    newest = max(
        (f for f in os.listdir(logs) if f.endswith(".timings.json")),
        key=lambda f: os.path.getmtime(os.path.join(logs, f)),
    )
    timings = _json_file(os.path.join(logs, newest))
    rows = timings["components"]
    return {
        "run_id": timings["run_id"],
        "succeeded": timings["succeeded"],
        "components_seconds": round(sum(r["seconds"] for r in rows), 1),
        "components": rows,
    }


STEPS = {
    "searcher": searcher_step,
    "embedder": embedder_step,
    "embedder_tower": embedder_tower_step,
    "training": training_step,
    "towers": towers_step,
    "pipeline": pipeline_step,
    "rebuild": rebuild_step,
    "scale": scale_step,
    "features": features_step,
    "growth": growth_step,
}

if __name__ == "__main__":
    sys.exit(main())
