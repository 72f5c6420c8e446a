"""The plain entry point: a collection on disk -> Examples and ingest_report.json.

`ingest()` is what tests, benchmarks and the CLI call; the TFX executor calls
`ingest_resolved()` with the patterns its driver already resolved to a span.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence

import apache_beam as beam

from components.coco_example_gen import beam_ingest, layout, plan, report, storage, unlisted
from components.coco_example_gen.options import DataOptions
from components.common import item_metadata as item_metadata_lib

WORK_DIR_NAME = ".ingest-work"  # inside the output, so every runner's workers can reach it


class NothingIngestedError(RuntimeError):
    """Every listed image was skipped: an empty index is never published."""


def ingest(
    data_dir: str,
    output_uri: str,
    *,
    annotations_file: str = "",
    image_dir: str = "",
    split_mode: str = DataOptions.split,
    eval_fraction: float = DataOptions.eval_fraction,
    spans: str = DataOptions.spans,
    max_image_pixels: int = DataOptions.max_image_pixels,
    item_metadata: str = DataOptions.item_metadata,
    beam_pipeline_args: Optional[Sequence[str]] = None,
) -> dict:
    """Ingests `data_dir` (span-<N>/ folders: the latest or all of them) into `output_uri`."""
    inputs = layout.input_patterns(layout.annotations_glob(data_dir, annotations_file), spans)
    patterns, span = resolve_span(data_dir, inputs)
    return ingest_resolved(
        data_dir,
        patterns,
        output_uri,
        span=span,
        image_dir=image_dir,
        split_mode=split_mode,
        eval_fraction=eval_fraction,
        max_image_pixels=max_image_pixels,
        item_metadata=item_metadata,
        make_pipeline=lambda: beam.Pipeline(argv=list(beam_pipeline_args or [])),
    )


def resolve_span(data_dir: str, inputs: list[tuple[str, str]]) -> tuple[list[str], int]:
    """The patterns with {SPAN} replaced and the span, exactly as TFX's driver resolves them."""
    from tfx.components.example_gen import input_processor
    from tfx.proto import example_gen_pb2

    splits = [example_gen_pb2.Input.Split(name=name, pattern=pattern) for name, pattern in inputs]
    processor = input_processor.FileBasedInputProcessor(data_dir, splits, None)
    span, version = processor.resolve_span_and_version()
    return [processor.get_pattern_for_span_version(s.pattern, span, version) for s in splits], span


def ingest_resolved(
    data_dir: str,
    patterns: list[str],
    output_uri: str,
    *,
    span: int,
    image_dir: str,
    split_mode: str,
    eval_fraction: float,
    max_image_pixels: int,
    make_pipeline: Callable[[], beam.Pipeline],
    item_metadata: str = DataOptions.item_metadata,
) -> dict:
    started = time.perf_counter()
    plan.check_options(split_mode, eval_fraction, max_image_pixels)
    item_metadata_lib.check_layout(item_metadata)
    sources = layout.find_sources(data_dir, patterns, image_dir)
    work = plan.make_plan(sources, split_mode, eval_fraction)
    work_dir = storage.join(output_uri, WORK_DIR_NAME)
    storage.makedirs(work_dir)
    try:
        items_path = storage.join(work_dir, "items.jsonl")
        plan.write_items(work, items_path)
        with make_pipeline() as pipeline:
            beam_ingest.build(
                pipeline, items_path, output_uri, work_dir, max_image_pixels, item_metadata
            )
        counts, skipped = beam_ingest.read_results(work_dir)
    finally:
        storage.remove_tree(work_dir)
    result = report.build(
        work,
        counts,
        skipped,
        unlisted.find(data_dir, sources, work.items),
        data_dir=data_dir,
        span=span,
        split_mode=split_mode,
        eval_fraction=eval_fraction,
        max_image_pixels=max_image_pixels,
        seconds=time.perf_counter() - started,
    )
    report_path = report.write(result, output_uri)
    if result["images"]["ingested"] == 0:
        reasons = {r: n for r, n in result["images"]["skipped_by_reason"].items() if n}
        raise NothingIngestedError(
            f"{data_dir}: none of the {result['images']['seen']} listed images could be "
            f"ingested ({reasons}); see {report_path}"
        )
    return result
