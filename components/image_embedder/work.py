"""`embed_images`: the ImageEmbedder's work as a plain function (the executor's Do calls it).

One Beam pipeline reads the index split, skips (incremental mode) the ids the previous
artifact already has, embeds the rest with RunInference, writes the new rows and the dead
letters, and writes a small report. The driver reads and checks the previous rows before
the pipeline and copies their shards in after it (carry_over.py). It then checks the
report - no duplicate ids, input = reused + embedded + dead letters, one dimension - and
only then writes embeddings_summary.json; a failed run or check removes the written files
and raises.
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import time
from typing import Callable, Sequence

import apache_beam as beam
from absl import logging
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from components.common import embeddings_io, formats
from components.image_embedder import beam_stages, carry_over, execution_plan
from components.image_embedder.model_handler import ImageEncoderHandler, worker_threads
from components.common import runtime_env

if not runtime_env.is_verbose():
    # Multi-processing workers' start-up warnings (no semi_persistent_directory, discarded
    # runner-only args) are relayed through this logger on every run; their errors still show.
    std_logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(
        std_logging.ERROR
    )

_WORK_DIR = ".embedder-work"
_REPORT = "report"


class EmbedderError(RuntimeError):
    """A run whose output would break a guarantee (duplicates, counts that do not add up)."""


def embed_images(
    examples_pattern: str,
    model_serving_dir: str,
    output_uri: str,
    *,
    model_artifact_id: int | None = None,
    previous_embeddings_uri: str | None = None,
    incremental: bool = True,
    batch_size: int = 64,
    num_workers: int = 0,
    multiprocessing_min_images: int = 100_000,
    beam_pipeline_args: Sequence[str] = (),
    make_pipeline: Callable[[list[str]], beam.Pipeline] | None = None,
    code_version: str | None = None,
    intra_op_threads: int | None = None,
) -> dict:
    """Embeds the images of the gzipped-TFRecord Examples matching `examples_pattern` with
    `<model_serving_dir>/image_encoder` into `output_uri`; returns the summary it wrote.

    intra_op_threads: TensorFlow threads per worker; None or 0 = the worker host's cores /
    the workers sharing it (two workers each using every core would oversubscribe them).
    """
    import tensorflow as tf

    started = time.perf_counter()
    encoder_dir = os.path.join(model_serving_dir, formats.MODEL_IMAGE_ENCODER)
    if not tf.io.gfile.exists(os.path.join(encoder_dir, "saved_model.pb")):
        raise FileNotFoundError(f"{encoder_dir}: no image encoder SavedModel (saved_model.pb)")
    if not tf.io.gfile.glob(examples_pattern):
        raise FileNotFoundError(f"{examples_pattern}: no Examples files")
    tf.io.gfile.makedirs(output_uri)
    if embeddings_io.embedding_files(output_uri) or embeddings_io.read_summary(output_uri):
        raise FileExistsError(f"{output_uri} already holds embeddings; write to an empty directory")

    model = {"artifact_id": model_artifact_id, "uri": model_serving_dir}
    previous_uri, incremental_info = decide_incremental(previous_embeddings_uri, incremental, model)
    previous = carry_over.read_previous(previous_uri) if previous_uri else None
    count = execution_plan.count_records(examples_pattern)
    plan = execution_plan.plan_execution(
        list(beam_pipeline_args),
        count,
        num_workers=num_workers,
        multiprocessing_min_images=multiprocessing_min_images,
    )
    # Each worker sets its TensorFlow threads where it loads the model (cores there /
    # plan.workers_per_host); local modes can report the figure here.
    handler = ImageEncoderHandler(
        encoder_dir,
        batch_size=batch_size,
        intra_op_threads=intra_op_threads or 0,
        workers_per_host=plan.workers_per_host,
    )
    threads = (
        worker_threads(intra_op_threads or 0, plan.workers_per_host)
        if plan.mode != "distributed"
        else None
    )

    work_dir = os.path.join(output_uri, _WORK_DIR)
    pipeline = (
        make_pipeline(plan.beam_args) if make_pipeline else beam.Pipeline(argv=plan.beam_args)
    )
    _build(
        pipeline,
        examples_pattern,
        handler,
        output_uri,
        work_dir,
        previous.file_of if previous else None,
        plan.reshuffle,
    )
    run_started = time.time()
    try:
        pipeline.run().wait_until_finish()
        pipeline_seconds = time.time() - run_started
        report = _read_report(work_dir)
        if previous:
            report["previous"] = previous.stats
        _check(report, examples_pattern)
        if previous:
            previous.copy_into(output_uri)
    except Exception:
        # No half-written artifact: without a summary nothing here may be read anyway.
        _remove_outputs(output_uri)
        raise
    tf.io.gfile.rmtree(work_dir)
    summary = _summary(
        report,
        model,
        incremental_info,
        plan,
        count,
        batch_size,
        code_version,
        threads,
        run_started,
        pipeline_seconds,
        time.perf_counter() - started,
    )
    embeddings_io.write_json(os.path.join(output_uri, formats.EMBEDDINGS_SUMMARY), summary)
    if summary["dead_letters"]:
        logging.warning(
            "%d image(s) could not be embedded; see %s",
            summary["dead_letters"],
            os.path.join(output_uri, formats.DEAD_LETTERS),
        )
    logging.info(
        "embedded %d new image(s) (%d rows) in %.1f s, %s mode",
        summary["embedded_new"],
        summary["count"],
        summary["wall_seconds"],
        plan.mode,
    )
    return summary


def decide_incremental(
    previous_uri: str | None, requested: bool, model: dict
) -> tuple[str | None, dict]:
    """Whether to reuse `previous_uri`'s rows: only when asked and made with the same model."""
    info = {"requested": bool(requested), "used": False, "previous_uri": previous_uri}
    if not requested:
        info["reason"] = "incremental mode is off: every image is embedded"
    elif not previous_uri:
        info["reason"] = "no previous Embeddings artifact: every image is embedded"
    else:
        previous = embeddings_io.read_summary(previous_uri)
        if previous is None:
            info["reason"] = (
                f"the previous artifact has no {formats.EMBEDDINGS_SUMMARY} "
                "(incomplete?): every image is embedded"
            )
        elif previous.get("format_version", formats.FORMAT_VERSION) != formats.FORMAT_VERSION:
            info["reason"] = (
                f"the previous artifact has format version {previous['format_version']}, "
                f"this run writes {formats.FORMAT_VERSION}: every image is embedded"
            )
        elif not embeddings_io.same_model(previous.get("model") or {}, model):
            info["reason"] = (
                f"the previous embeddings were made with model {previous.get('model')}, "
                f"this run uses {model}: every image is embedded"
            )
        else:
            info.update(
                used=True,
                previous_count=previous.get("count"),
                reason="same model as the previous artifact: only the ids it lacks are embedded",
            )
            return previous_uri, info
    return None, info


def _build(
    p: beam.Pipeline,
    examples_pattern: str,
    handler: ImageEncoderHandler,
    output_uri: str,
    work_dir: str,
    previous_files: dict | None,
    reshuffle: bool,
) -> None:
    st = beam_stages
    raw = p | "ReadExamples" >> beam.io.ReadFromTFRecord(
        examples_pattern, compression_type=CompressionTypes.GZIP
    )
    parsed = raw | "Parse" >> beam.ParDo(st.ParseExample()).with_outputs(
        st.DEAD, st.IDS, main="images"
    )
    images = parsed.images
    report = {
        "input_records": raw | "CountInput" >> beam.combiners.Count.Globally(),
        "duplicates": st.duplicate_ids(parsed[st.IDS]),
    }
    if previous_files is not None:
        known = p | "PreviousIds" >> beam.Create([previous_files])
        split = images | "SkipEmbedded" >> beam.ParDo(
            st.SkipEmbedded(), beam.pvalue.AsSingleton(known)
        ).with_outputs(st.REUSED, st.CONFLICTS, main="new")
        images = split.new
        report["reused"] = split[st.REUSED] | "CountReused" >> beam.combiners.Count.Globally()
        report["conflicts"] = split[
            st.CONFLICTS
        ] | "SomeConflicts" >> beam.combiners.Sample.FixedSizeGlobally(5)
        report["conflict_count"] = (
            split[st.CONFLICTS] | "CountConflicts" >> beam.combiners.Count.Globally()
        )
    if reshuffle:
        # Gzip files cannot be split: without this, each worker embeds whole files, and
        # one file means one busy worker.
        images = images | "Rebalance" >> beam.Reshuffle()
    results = images | "Embed" >> RunInference(KeyedModelHandler(handler))
    rows = results | "ToRows" >> beam.ParDo(st.ToEmbeddingRow()).with_outputs(
        st.DEAD, st.STATS, main="rows"
    )
    report["new"] = rows[st.STATS] | "NewStats" >> beam.CombineGlobally(st.VectorStats())

    (
        rows.rows
        | "WriteRows"
        >> beam.io.WriteToTFRecord(
            os.path.join(output_uri, formats.EMBEDDINGS_FILE_PREFIX),
            file_name_suffix=embeddings_io.SHARD_SUFFIX,
            compression_type=CompressionTypes.GZIP,
        )
    )
    dead = (parsed[st.DEAD], rows[st.DEAD]) | "AllDead" >> beam.Flatten()
    dead_prefix, dead_suffix = os.path.splitext(formats.DEAD_LETTERS)
    dead | "WriteDead" >> beam.io.WriteToText(
        os.path.join(output_uri, dead_prefix),
        file_name_suffix=dead_suffix,
        shard_name_template="",
        num_shards=1,
    )
    report["dead"] = dead | "DeadStats" >> beam.CombineGlobally(st.DeadLetterStats())

    (
        tuple(
            value | f"Name_{name}" >> beam.Map(lambda v, name=name: (name, v))
            for name, value in report.items()
        )
        | "Report" >> beam.Flatten()
        | "ReportDict" >> beam.combiners.ToDict()
        | "ReportJson" >> beam.Map(json.dumps)
        | "WriteReport"
        >> beam.io.WriteToText(
            os.path.join(work_dir, _REPORT),
            file_name_suffix=".json",
            shard_name_template="",
            num_shards=1,
        )
    )


def _read_report(work_dir: str) -> dict:
    import tensorflow as tf

    with tf.io.gfile.GFile(os.path.join(work_dir, _REPORT + ".json")) as f:
        return json.loads(f.read())


def _check(report: dict, examples_pattern: str) -> None:
    duplicates = report["duplicates"]
    if duplicates:
        listed = ", ".join(f"{image_id} ({count}x)" for image_id, count in duplicates)
        raise EmbedderError(
            f"duplicate image ids in {examples_pattern}: {listed}; every image "
            "must have a unique id (nothing was written)"
        )
    if report.get("conflict_count"):
        listed = "; ".join(
            f"image id {image_id} is indexed as {indexed!r}, and {new!r} has it too"
            for image_id, indexed, new in sorted(report["conflicts"])
        )
        raise EmbedderError(
            f"{report['conflict_count']} image(s) in {examples_pattern} reuse an id the index "
            f"already has for another file: {listed}. Give new images new ids "
            "(`t2i sample-data --add-span` does)"
        )
    reused = report.get("reused", 0)
    embedded, dead = report["new"]["count"], report["dead"]["count"]
    if report["input_records"] != reused + embedded + dead:
        raise EmbedderError(
            f"counts do not reconcile: {report['input_records']} input records, but "
            f"{reused} reused + {embedded} embedded + {dead} dead letters"
        )
    dims = set(report["new"]["dims"]) | set(report.get("previous", {}).get("dims", []))
    if len(dims) > 1:
        raise EmbedderError(
            f"embeddings of different dimensions {sorted(dims)} (new and previous rows)"
        )


def _summary(
    report: dict,
    model: dict,
    incremental_info: dict,
    plan: execution_plan.ExecutionPlan,
    count: execution_plan.RecordCount,
    batch_size: int,
    code_version: str | None,
    intra_op_threads: int | None,
    run_started: float,
    pipeline_seconds: float,
    wall_seconds: float,
) -> dict:
    new = report["new"]
    previous = report.get("previous", {"count": 0, "dims": []})
    total = new["count"] + previous["count"]
    parts = [part for part in (new, previous) if part["count"]]
    norm_mean = sum(part["norm_sum"] for part in parts) / total if total else None
    norm_std = (
        max(sum(part["norm_sum_squares"] for part in parts) / total - norm_mean**2, 0.0) ** 0.5
        if total
        else None
    )
    dims = set(new["dims"]) | set(previous["dims"])
    embedded = new["count"]
    # The first batch ended at `first`: its images are not part of the timed span.
    rates = [
        (count - batch_size) / (last - first)
        for count, first, last in new.get("workers", [])
        if last > first and count > batch_size
    ]
    execution_info = dict(plan.describe(), intra_op_threads=intra_op_threads)
    execution_info.update(
        estimated_images=count.records,
        estimate_exact=count.exact,
        input_files=count.files,
        input_bytes=count.bytes,
        images_per_worker=[count for count, _, _ in new.get("workers", [])],
    )
    incremental_info = dict(
        incremental_info,
        previous_rows=previous["count"],
        previous_rows_not_in_input=previous["count"] - report.get("reused", 0),
    )
    return {
        "format_version": formats.FORMAT_VERSION,
        "count": total,
        "dim": dims.pop() if dims else None,
        "model_artifact_id": model["artifact_id"],
        "model": model,
        "input_images": report["input_records"],
        "embedded_new": embedded,
        "reused": report.get("reused", 0),
        "dead_letters": report["dead"]["count"],
        "dead_letter_reasons": report["dead"]["reasons"],
        "norm_min": min((part["norm_min"] for part in parts), default=None),
        "norm_max": max((part["norm_max"] for part in parts), default=None),
        "norm_mean": norm_mean,
        "norm_std": norm_std,
        "wall_seconds": round(wall_seconds, 3),
        "images_per_second": round(embedded / wall_seconds, 2) if wall_seconds > 0 else None,
        "pipeline_seconds": round(pipeline_seconds, 3),
        # From the run's start to the first embedded batch: runner and worker start-up,
        # model loading, the first read and the first inference.
        "startup_seconds": round(new["first_time"] - run_started, 3) if embedded else None,
        # Each worker's images over its first-to-last embedded batch (which leaves out its
        # start-up and first batch), summed over the workers.
        "steady_images_per_second": round(sum(rates), 2) if rates else None,
        "execution": execution_info,
        "incremental": incremental_info,
        "batch_size": batch_size,
        "code_version": code_version,
    }


def _remove_outputs(output_uri: str) -> None:
    import tensorflow as tf

    for path in (
        embeddings_io.embedding_files(output_uri)
        + tf.io.gfile.glob(os.path.join(output_uri, "beam-temp-*"))
        + [os.path.join(output_uri, formats.DEAD_LETTERS), os.path.join(output_uri, _WORK_DIR)]
    ):
        if tf.io.gfile.isdir(path):
            tf.io.gfile.rmtree(path)
        elif tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)
