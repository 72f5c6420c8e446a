"""Trainer + RetrievalEvaluator benchmark: the acceptance run (a measurement, not a test).

Generates the synthetic sample (t2i/sample_data.py; 2,000 images, seed 0), ingests it
with CocoExampleGen's `ingest` (hash split, eval_fraction 0.2), trains the dual encoder with
the default TrainerOptions (overridable with --set trainer.<field>=<value>), then evaluates
the exported SavedModels on the eval split exactly as the RetrievalEvaluator does. Prints
one JSON object: text->image and image->text R@1/5/10 and median rank, training wall time,
examples/s, and the machine's load while training (the CPU may be shared).

    .venv/bin/python bench/train_bench.py [--images 2000] [--set trainer.epochs=20] [--output f.json]

Epoch lines go to stderr; the JSON is the last line on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import threading
import time

import t2i  # noqa: F401  (sets the process environment before TensorFlow)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="sample-data seed")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="config override, e.g. trainer.epochs=20 (repeatable)",
    )
    parser.add_argument("--workdir", default=None, help="where to put data and outputs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--output", help="also write the JSON here")
    args = parser.parse_args()

    from t2i import sample_data
    from t2i.configs import load_config

    config = load_config(None, args.set)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    progress = logging.getLogger("t2i.progress")
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False  # a root handler (absl, Beam) would print each line twice

    work = tempfile.mkdtemp(prefix="train-bench-", dir=args.workdir)
    try:
        collection, examples = os.path.join(work, "collection"), os.path.join(work, "examples")
        sample_data.generate(collection, num_images=args.images, seed=args.seed)
        from components.coco_example_gen.work import ingest

        ingested = ingest(
            collection,
            examples,
            split_mode=config.data.split,
            eval_fraction=config.data.eval_fraction,
        )
        report = {
            "command": " ".join([os.path.relpath(sys.executable)] + sys.argv),
            "cpu_count": os.cpu_count(),
            "images": args.images,
            "sample_seed": args.seed,
            "splits": ingested["splits"],
            "trainer": vars(config.trainer),
            "evaluator": vars(config.evaluator),
        }
        report.update(_train_and_evaluate(config, examples, work))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.keep:
        report["workdir"] = work
    text = json.dumps(report)
    if args.output:
        with open(args.output, "w") as f:
            f.write(json.dumps(report, indent=2) + "\n")
    print(text)


def _train_and_evaluate(config, examples: str, work: str) -> dict:
    from components.retrieval_evaluator import work as evaluator
    from components.trainer import options as trainer_options, work as trainer

    options, _ = trainer_options.from_custom_config(vars(config.trainer))
    serving = os.path.join(work, "model", "Format-Serving")
    load = _LoadSampler()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    with load:
        trained = trainer.train(
            [os.path.join(examples, "Split-train", "*")],
            [os.path.join(examples, "Split-eval", "*")],
            serving,
            os.path.join(work, "model_run"),
            options,
        )
    run_fn_seconds = time.perf_counter() - started
    cpu_share = (_cpu_seconds() - cpu_before) / run_fn_seconds
    evaluation = evaluator.evaluate(
        [os.path.join(examples, "Split-eval", "*")],
        serving,
        os.path.join(work, "evaluation"),
        min_recall_at_10=config.evaluator.min_recall_at_10,
        max_regression=config.evaluator.max_regression,
        contact_sheet_queries=config.evaluator.contact_sheet_queries,
    )
    summary = trained.summary

    def directions(name):
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in evaluation[name].items()}

    return {
        "text_to_image": directions("text_to_image"),
        "image_to_text": directions("image_to_text"),
        "eval_images": evaluation["eval_images"],
        "eval_captions": evaluation["eval_captions"],
        "blessed": evaluation["blessed"],
        "train_images": summary["train_images"],
        "steps": summary["steps"],
        "batch_size": summary["batch_size"],
        "epochs": summary["epochs"],
        # training = fit() minus the per-epoch eval passes; total = the whole run_fn work
        # (reading and checking the data, vocabulary, fit, export).
        "training_wall_seconds": summary["wall_seconds"]["training"],
        "per_epoch_eval_seconds": summary["wall_seconds"]["eval_during_training"],
        "export_seconds": summary["wall_seconds"]["export"],
        "run_fn_wall_seconds": round(run_fn_seconds, 1),
        "examples_per_second": summary["examples_per_second"],
        "final_temperature": round(summary["final_temperature"], 4),
        "loss_curve": summary["loss_curve"],
        "parameters": summary["parameters"],
        "load_average_while_training": load.summary(),
        # This process's CPU seconds per wall second while training (2.0 = both cores).
        "cpu_share_while_training": round(cpu_share, 2),
        "evaluator_seconds": evaluation["seconds"],
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _LoadSampler:
    """The 1-minute load average every 5 s while training (other work shares the CPU)."""

    def __init__(self, period: float = 5.0):
        self.period, self.samples = period, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict:
        return {
            "min": round(min(self.samples), 2),
            "mean": round(sum(self.samples) / len(self.samples), 2),
            "max": round(max(self.samples), 2),
            "samples": len(self.samples),
        }


if __name__ == "__main__":
    main()
