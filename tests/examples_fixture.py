"""STAND-IN for the real ingestion (components/coco_example_gen): replace with its `ingest`.

Writes an Examples-artifact directory (Split-train / Split-eval / Split-index, gzipped
TFRecords of tf.Example with the features formats.py names) from a COCO-format collection
such as pipeline/sample_data.generate() writes. It exists only so the Trainer and
RetrievalEvaluator tests and bench/train_bench.py have Examples before CocoExampleGen
lands. The split is a hash of the image id, like the ingestion's "hash" split.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os

import tensorflow as tf

from components.common import formats, item_metadata


def write_examples(collection_dir: str, out_dir: str, eval_fraction: float = 0.2) -> str:
    """Examples for every image of the collection; returns out_dir."""
    records = {split: [] for split in formats.SPLITS}
    for annotations in sorted(glob.glob(os.path.join(collection_dir, "annotations", "captions_*.json"))):
        coco_split = os.path.basename(annotations)[len("captions_"):-len(".json")]
        with open(annotations) as f:
            document = json.load(f)
        captions: dict[int, list[str]] = {}
        for annotation in document["annotations"]:
            captions.setdefault(annotation["image_id"], []).append(annotation["caption"])
        for image in sorted(document["images"], key=lambda image: image["id"]):
            file_name = f"{coco_split}/{image['file_name']}"
            with open(os.path.join(collection_dir, file_name), "rb") as f:
                encoded = f.read()
            example = _example(image, file_name, encoded, captions.get(image["id"], []))
            split = formats.SPLIT_EVAL if _hash_fraction(image["id"]) < eval_fraction else formats.SPLIT_TRAIN
            records[split].append(example)
            records[formats.SPLIT_INDEX].append(example)
    for split, examples in records.items():
        split_dir = os.path.join(out_dir, f"Split-{split}")
        os.makedirs(split_dir, exist_ok=True)
        with tf.io.TFRecordWriter(os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz"),
                                  options="GZIP") as writer:
            for example in examples:
                writer.write(example.SerializeToString())
    return out_dir


def _hash_fraction(image_id: int) -> float:
    digest = hashlib.sha256(str(image_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _example(image: dict, file_name: str, encoded: bytes, captions: list[str]) -> tf.train.Example:
    meta = item_metadata.ItemMetadata(
        image["id"], file_name, item_metadata.flickr_id_from_url(image.get("flickr_url", "")))

    def ints(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    return tf.train.Example(features=tf.train.Features(feature={
        formats.FEATURE_IMAGE_ID: ints(image["id"]),
        formats.FEATURE_FILE_NAME: strings([file_name.encode()]),
        formats.FEATURE_IMAGE: strings([encoded]),
        formats.FEATURE_HEIGHT: ints(image["height"]),
        formats.FEATURE_WIDTH: ints(image["width"]),
        formats.FEATURE_CAPTIONS: strings([c.encode() for c in captions]),
        formats.FEATURE_COCO_URL: strings([image.get("coco_url", "").encode()]),
        formats.FEATURE_FLICKR_URL: strings([image.get("flickr_url", "").encode()]),
        formats.FEATURE_METADATA: strings([meta.encode()]),
        formats.FEATURE_SPAN: ints(0),
    }))
