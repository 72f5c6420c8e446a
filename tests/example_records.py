"""Running CocoExampleGen's Executor directly and reading back the tf.Examples it wrote: one
reader for every test that checks records (gzipped TFRecord files under `Split-<name>/`, as
TFX lays them out)."""

import os

import tensorflow as tf


def read_split(output_uri, split: str) -> list[tf.train.Example]:
    """The split's records, parsed. Compare them parsed, not as bytes: a tf.Example's
    features are a proto map, whose serialized order is not deterministic across processes."""
    files = sorted(tf.io.gfile.glob(os.path.join(str(output_uri), f"Split-{split}", "*.gz")))
    assert files, f"{output_uri}: no files in Split-{split}"
    return [
        tf.train.Example.FromString(record.numpy())
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP")
    ]


def read_examples(output_uri, split: str) -> list[dict]:
    """The split's tf.Examples as {feature: list of values} dicts."""
    return [
        {
            key: list(getattr(feature, feature.WhichOneof("kind")).value)
            for key, feature in example.features.feature.items()
        }
        for example in read_split(output_uri, split)
    ]


def by_file_name(rows: list[dict]) -> dict:
    return {row["file_name"][0].decode(): row for row in rows}


def coco_example_gen_properties(data_dir: str, eval_fraction: float) -> dict:
    """The exec properties CocoExampleGen's Executor takes, for one COCO-format folder."""
    from tfx.proto import example_gen_pb2
    from tfx.utils import proto_utils

    from components.coco_example_gen import layout

    input_config = example_gen_pb2.Input(
        splits=[
            example_gen_pb2.Input.Split(name="collection", pattern=layout.COCO_ANNOTATIONS_GLOB)
        ]
    )
    return {
        "input_base": data_dir,
        "input_config": proto_utils.proto_to_json(input_config),
        "span": 0,
        "image_dir": "",
        "split_mode": "hash",
        "eval_fraction": eval_fraction,
        "max_image_pixels": 1_000_000,
        "code_version": "test",
    }
