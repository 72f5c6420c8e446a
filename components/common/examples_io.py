"""Reading Examples (gzipped TFRecords of tf.Example, formats.py) record by record, each
checked: a bad record is an ExamplesError naming the file, the record and the problem.

The Trainer (its input pipeline and eval set) and the RetrievalEvaluator read Examples
through this one reader.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from components.common import formats

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM")


class ExamplesError(ValueError):
    """Bad input data; the message names the file, the record and the problem."""


def expand_patterns(patterns: list[str], what: str, required: bool = True) -> list[str]:
    files = sorted({f for pattern in patterns for f in tf.io.gfile.glob(pattern)})
    if not files and required:
        raise ExamplesError(f"no {what} files match {patterns}")
    return files


@dataclass
class SplitScan:
    """What a pass over a split found: its images' ids and captions, in file order."""

    files: list[str]
    image_ids: list[int]
    captions: list[list[str]]

    @property
    def captioned_images(self) -> int:
        return sum(1 for c in self.captions if c)

    def all_captions(self) -> list[str]:
        return [c for captions in self.captions for c in captions]


@dataclass
class Record:
    path: str
    number: int  # 0-based position in the file
    image_id: int
    image: bytes  # encoded
    captions: list[str]
    metadata: bytes


def iter_records(files: list[str]):
    """Every record of the files, checked, as a Record. tf.data's own errors name neither
    file nor record, so this is the pass that finds bad input and says where it is."""
    for path in files:
        number = -1
        try:
            for number, raw in enumerate(tf.data.TFRecordDataset(path, "GZIP")):
                yield _check_record(path, number, raw.numpy())
        except tf.errors.OpError as e:
            raise ExamplesError(
                f"{path}: record {number + 1}: cannot read it as a gzipped TFRecord: {e.message}"
            ) from e


def scan_split(files: list[str]) -> SplitScan:
    """One checked pass over a split, keeping ids and captions (not pixels)."""
    scan = SplitScan(files, [], [])
    for record in iter_records(files):
        scan.image_ids.append(record.image_id)
        scan.captions.append(record.captions)
    return scan


def _check_record(path: str, number: int, raw: bytes) -> Record:
    where = f"{path}: record {number}"
    try:
        features = tf.train.Example.FromString(raw).features.feature
    except Exception as e:  # protobuf's DecodeError
        raise ExamplesError(f"{where}: not a tf.Example ({e})") from e
    ids = features[formats.FEATURE_IMAGE_ID].int64_list.value
    if len(ids) != 1:
        raise ExamplesError(
            f"{where}: expected one int64 '{formats.FEATURE_IMAGE_ID}', got {list(ids)}"
        )
    where = f"{where} (image_id {ids[0]})"
    images = features[formats.FEATURE_IMAGE].bytes_list.value
    if len(images) != 1 or not images[0]:
        raise ExamplesError(
            f"{where}: expected one non-empty '{formats.FEATURE_IMAGE}' bytes feature"
        )
    if not images[0].startswith(_IMAGE_MAGIC):
        raise ExamplesError(
            f"{where}: '{formats.FEATURE_IMAGE}' is not a JPEG, PNG, GIF or BMP "
            f"(starts with {images[0][:8]!r})"
        )
    try:
        captions = [c.decode("utf-8") for c in features[formats.FEATURE_CAPTIONS].bytes_list.value]
    except UnicodeDecodeError as e:
        raise ExamplesError(f"{where}: a caption is not UTF-8 ({e})") from e
    metadata = features[formats.FEATURE_METADATA].bytes_list.value
    return Record(path, number, int(ids[0]), images[0], captions, metadata[0] if metadata else b"")
