"""The Beam part: work items -> checked JPEGs -> tf.Examples per split, plus exact counts.

Every work item ends as exactly one example (in `index`, and in `train` or `eval` when it
has captions) or exactly one skip record; the counts are summed in the pipeline and read
back by the launcher, so they stay exact on any runner (unlike Beam metrics, which may
count retried bundles).
"""

from __future__ import annotations

import json
import posixpath

import apache_beam as beam
import tensorflow as tf

from components.coco_example_gen import annotations, images, storage
from components.common import formats
from components.common import item_metadata
from components.common.item_metadata import ItemMetadata, flickr_id_from_url

EXAMPLES_FILE_PREFIX = "data_tfrecord"  # TFX's own ExampleGen naming
COUNTS_PREFIX = "counts"
SKIPPED_PREFIX = "skipped"
_SKIPPED = "skipped"
_COUNTS = "counts"
# Count keys (also the artifact's custom property names).
IMAGES_INGESTED = "images_ingested"
# Ingested images without a usable caption: in the index split only (searchable by image,
# not used for training or evaluation).
IMAGES_INDEX_ONLY = "images_index_only"
CAPTIONS_KEPT = "captions_kept"


def image_skipped_key(reason: str) -> str:
    return f"images_skipped_{reason}"


def caption_skipped_key(reason: str) -> str:
    return f"captions_skipped_{reason}"


def split_count_key(split: str) -> str:
    return f"split_{split}_count"


class IngestImage(beam.DoFn):
    """A work item (JSON line) -> (split, serialized tf.Example) per split it belongs to;
    a skip record on the `skipped` output; (count key, n) pairs on `counts`."""

    def __init__(self, max_pixels: int, metadata_layout: str = item_metadata.DEFAULT_LAYOUT):
        self._max_pixels = max_pixels
        self._metadata_layout = metadata_layout

    def process(self, line: str):
        item = json.loads(line)
        try:
            data = images.read_image_file(item["image_dir"], item["file_name"])
            image = images.to_jpeg(data, self._max_pixels)
        except images.ImageRejected as rejected:
            yield beam.pvalue.TaggedOutput(_SKIPPED, json.dumps(_skip_record(item, rejected)))
            yield beam.pvalue.TaggedOutput(_COUNTS, (image_skipped_key(rejected.reason), 1))
            yield beam.pvalue.TaggedOutput(
                _COUNTS, (caption_skipped_key(annotations.IMAGE_SKIPPED), len(item["captions"]))
            )
            return
        serialized = make_example(item, image, self._metadata_layout).SerializeToString()
        splits = [formats.SPLIT_INDEX] + ([item["split"]] if item["split"] else [])
        for split in splits:
            yield split, serialized
            yield beam.pvalue.TaggedOutput(_COUNTS, (split_count_key(split), 1))
        yield beam.pvalue.TaggedOutput(_COUNTS, (IMAGES_INGESTED, 1))
        if not item["captions"]:
            yield beam.pvalue.TaggedOutput(_COUNTS, (IMAGES_INDEX_ONLY, 1))
        yield beam.pvalue.TaggedOutput(_COUNTS, (CAPTIONS_KEPT, len(item["captions"])))


def collection_file_name(item: dict) -> str:
    """The image's path relative to the data root, so results point at a real file."""
    return posixpath.normpath(posixpath.join(item["image_dir_name"], item["file_name"]))


def _skip_record(item: dict, rejected: images.ImageRejected) -> dict:
    # The name as the annotations asked for it (not normalised), under its image folder.
    folder, name = item["image_dir_name"], item["file_name"]
    return {
        "file_name": name if folder == "." else posixpath.join(folder, name),
        "image_id": item["image_id"],
        "reason": rejected.reason,
        "detail": rejected.detail,
        "annotations_file": item["annotations_file"],
    }


def make_example(
    item: dict, image: images.JpegImage, metadata_layout: str = item_metadata.DEFAULT_LAYOUT
) -> tf.train.Example:
    file_name = collection_file_name(item)
    metadata = ItemMetadata(item["image_id"], file_name, flickr_id_from_url(item["flickr_url"]))
    features = {
        formats.FEATURE_IMAGE_ID: _int64(item["image_id"]),
        formats.FEATURE_FILE_NAME: _bytes(file_name.encode("utf-8")),
        formats.FEATURE_IMAGE: _bytes(image.data),
        formats.FEATURE_HEIGHT: _int64(image.height),
        formats.FEATURE_WIDTH: _int64(image.width),
        formats.FEATURE_METADATA: _bytes(metadata.encode(metadata_layout)),
        formats.FEATURE_SPAN: _int64(item["span"]),
    }
    if item["captions"]:  # absent, not empty, when there is none: the schema's rule
        features[formats.FEATURE_CAPTIONS] = _bytes(*(c.encode("utf-8") for c in item["captions"]))
    for key in (formats.FEATURE_COCO_URL, formats.FEATURE_FLICKR_URL):
        if item[key]:
            features[key] = _bytes(item[key].encode("utf-8"))
    return tf.train.Example(features=tf.train.Features(feature=features))


def _int64(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def _bytes(*values: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def build(
    pipeline: beam.Pipeline,
    items_path: str,
    output_uri: str,
    work_dir: str,
    max_pixels: int,
    metadata_layout: str = item_metadata.DEFAULT_LAYOUT,
) -> None:
    results = (
        pipeline
        | "ReadWorkItems" >> beam.io.ReadFromText(items_path)
        # One annotations file reads as few bundles; spread the decoding over workers.
        | "Spread" >> beam.Reshuffle()
        | "IngestImages"
        >> beam.ParDo(IngestImage(max_pixels, metadata_layout)).with_outputs(
            _SKIPPED, _COUNTS, main="examples"
        )
    )
    by_split = results.examples | "BySplit" >> beam.Partition(
        lambda keyed, _: formats.SPLITS.index(keyed[0]), len(formats.SPLITS)
    )
    for split, keyed in zip(formats.SPLITS, by_split):
        _ = (
            keyed
            | f"Serialized[{split}]" >> beam.Values()
            | f"Write[{split}]"
            >> beam.io.WriteToTFRecord(
                storage.join(output_uri, f"Split-{split}", EXAMPLES_FILE_PREFIX),
                file_name_suffix=".gz",
            )
        )
    _ = (
        results[_COUNTS]
        | "SumCounts" >> beam.CombinePerKey(sum)
        | "FormatCounts" >> beam.MapTuple(lambda key, n: json.dumps([key, n]))
        | "WriteCounts" >> beam.io.WriteToText(storage.join(work_dir, COUNTS_PREFIX))
    )
    _ = results[_SKIPPED] | "WriteSkipped" >> beam.io.WriteToText(
        storage.join(work_dir, SKIPPED_PREFIX)
    )


def read_results(work_dir: str) -> tuple[dict[str, int], list[dict]]:
    """(count key -> n, skip records) as the pipeline wrote them."""
    counts: dict[str, int] = {}
    for path in storage.glob(storage.join(work_dir, COUNTS_PREFIX + "*")):
        for line in storage.read_bytes(path).decode("utf-8").splitlines():
            key, n = json.loads(line)
            counts[key] = counts.get(key, 0) + n
    skipped = []
    for path in storage.glob(storage.join(work_dir, SKIPPED_PREFIX + "*")):
        lines = storage.read_bytes(path).decode("utf-8").splitlines()
        skipped.extend(json.loads(line) for line in lines)
    return counts, skipped
