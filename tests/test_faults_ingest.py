"""Issue 15 cases 2, 3, 6, 7 and 9: CocoExampleGen's ingestion on collections each test
builds, through its plain entry point (the same code the TFX executor runs)."""

import io
import json
import os
import threading

import numpy as np
import pytest
from PIL import Image
from example_records import by_file_name, read_examples
from test_coco_example_gen import image_record, jpeg, run, write_coco

from components.coco_example_gen import annotations, images
from components.common import formats

SCHEMA = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "t2i", "schema", "schema.pbtxt"
)


# ---------------------------------------------------------------- case 2: non-regular files


def test_a_named_pipe_or_other_non_regular_file_is_a_counted_skip(tmp_path):
    data = tmp_path / "coco"
    ids = write_coco(data, {"good.jpg": jpeg(), "pipe.jpg": None, "socket.jpg": None})
    os.mkfifo(data / "train2017" / "pipe.jpg")
    import socket

    server = socket.socket(socket.AF_UNIX)
    server.bind(str(data / "train2017" / "socket.jpg"))
    outcome = {}
    worker = threading.Thread(
        target=lambda: outcome.update(report=run(data, tmp_path / "out")), daemon=True
    )
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():  # never wait forever in a test, even on the old code
        with open(data / "train2017" / "pipe.jpg", "wb"):  # lets a blocked reader finish
            pass
        pytest.fail("ingestion hung on a named pipe")
    server.close()
    report = outcome["report"]
    assert report["images"]["ingested"] == 1
    assert report["images"]["skipped_by_reason"][images.NOT_A_REGULAR_FILE] == 2
    skipped = {r["file_name"]: r for r in report["skipped_images"]}
    assert skipped["train2017/pipe.jpg"]["image_id"] == ids["pipe.jpg"]
    assert skipped["train2017/pipe.jpg"]["detail"].endswith("pipe.jpg is a named pipe")
    assert skipped["train2017/socket.jpg"]["detail"].endswith("socket.jpg is a socket")


# ---------------------------------------------------------------- case 3: field checks

_BAD_FIELDS = [
    (
        {"flickr_url": "http://farm1.staticflickr.com/1/9_ab\udcff_z.jpg"},
        r"images\[1\] \(id 2\)\.flickr_url '.*' is not valid UTF-8",
    ),
    ({"coco_url": 7}, r"images\[1\] \(id 2\)\.coco_url must be a string, got 7"),
    ({"id": 2**63}, r"images\[1\]\.id 9223372036854775808 is out of range \(0 \.\. 2\*\*63-1\)"),
    ({"id": -5}, r"images\[1\]\.id -5 is out of range"),
    ({"id": 2.5}, r"images\[1\]\.id must be an integer, got 2.5"),
    ({"id": True}, r"images\[1\]\.id must be an integer, got True"),
    ({"width": "wide"}, r"images\[1\] \(id 2\)\.width must be a non-negative integer"),
    ({"height": -1}, r"images\[1\] \(id 2\)\.height must be a non-negative integer, got -1"),
    ({"file_name": ["a.jpg"]}, r"images\[1\] \(id 2\)\.file_name must be a non-empty string"),
]


@pytest.mark.parametrize("change, message", _BAD_FIELDS)
def test_bad_field_values_fail_naming_file_json_path_and_problem(tmp_path, change, message):
    data = tmp_path / "coco"
    write_coco(data, {"a.jpg": jpeg(), "b.jpg": jpeg()})
    path = data / "annotations" / "captions_train2017.json"
    # Written as raw bytes: a lone surrogate stands for an undecodable byte in the file.
    text = path.read_text()
    document = json.loads(text)
    document["images"][1].update(change)
    raw = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogateescape")
    path.write_bytes(raw)
    with pytest.raises(
        annotations.AnnotationError, match=f"^annotations/captions_train2017.json: {message}"
    ):
        run(data, tmp_path / "out")


# ---------------------------------------------------------------- case 6: no usable caption


def test_images_without_a_usable_caption_go_to_the_index_split_and_pass_validation(tmp_path):
    data = tmp_path / "coco"
    files = {
        f"{name}.jpg": jpeg(color=(i * 40, 0, 0))
        for i, name in enumerate(["a", "b", "c", "none", "empty", "bad"])
    }
    captions = {"none.jpg": [], "empty.jpg": ["", "   "], "bad.jpg": ["caf\udce9"]}
    ids = write_coco(data, files, captions=captions)
    path = data / "annotations" / "captions_train2017.json"
    document = json.loads(path.read_text())
    path.write_bytes(json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogateescape"))
    out = tmp_path / "out"
    report = run(data, out)
    assert report["images"]["ingested"] == 6
    assert report["images"]["index_only_no_captions"] == 3
    assert report["splits"]["index"] == 6
    assert report["splits"]["train"] + report["splits"]["eval"] == 3
    index = by_file_name(read_examples(out, formats.SPLIT_INDEX))
    for name in ("none.jpg", "empty.jpg", "bad.jpg"):
        assert formats.FEATURE_CAPTIONS not in index[f"train2017/{name}"]
        assert index[f"train2017/{name}"]["image_id"] == [ids[name]]

    # The check that used to stop the run at DataGate ("feature 'captions': Some examples
    # have fewer values than expected"): TFDV against the pipeline's schema, index split.
    import tensorflow_data_validation as tfdv

    stats = tfdv.generate_statistics_from_tfrecord(
        os.path.join(str(out), f"Split-{formats.SPLIT_INDEX}", "*.gz")
    )
    anomalies = tfdv.validate_statistics(stats, tfdv.load_schema_text(SCHEMA))
    assert not anomalies.anomaly_info, anomalies


# ---------------------------------------------------------------- case 7: unlisted files


def test_files_no_annotation_lists_are_counted_with_the_first_names(tmp_path):
    data = tmp_path / "coco"
    write_coco(data, {"a.jpg": jpeg(), "b.jpg": jpeg()})
    for name in ["z_extra.jpg", "extra_1.jpg", "sub/deeper.png", ".DS_Store"]:
        (data / "train2017" / name).parent.mkdir(parents=True, exist_ok=True)
        (data / "train2017" / name).write_bytes(jpeg())
    report = run(data, tmp_path / "out")
    assert report["images"]["unlisted_files"] == 4
    assert report["images"]["unlisted_first"] == [
        "train2017/.DS_Store",
        "train2017/extra_1.jpg",
        "train2017/sub/deeper.png",
        "train2017/z_extra.jpg",
    ]
    assert report["images"]["seen"] == report["images"]["ingested"] == 2


def test_a_generic_collection_at_the_root_does_not_count_its_own_annotations(tmp_path):
    data = tmp_path / "generic"
    data.mkdir()
    (data / "a.jpg").write_bytes(jpeg())
    (data / "stray.jpg").write_bytes(jpeg())
    document = {
        "images": [image_record(1, "a.jpg")],
        "annotations": [{"image_id": 1, "id": 1, "caption": "a red picture"}],
    }
    (data / "captions.json").write_text(json.dumps(document))
    report = run(data, tmp_path / "out")
    assert (report["images"]["unlisted_files"], report["images"]["unlisted_first"]) == (
        1,
        ["stray.jpg"],
    )


# ---------------------------------------------------------------- case 9: damaged JPEG data


def _damaged_scan_jpeg() -> bytes:
    """A JPEG whose entropy-coded data has 20 bytes overwritten in the middle: Pillow
    decodes it without a word (gray and smeared blocks), libjpeg warns."""
    gradient = (np.indices((256, 256)).sum(0) % 256).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(np.stack([gradient, gradient[::-1], gradient.T], -1)).save(
        out, format="JPEG", quality=90
    )
    data = bytearray(out.getvalue())
    start = data.find(b"\xff\xda") + 400
    data[start : start + 20] = (
        np.random.default_rng(0).integers(0, 255, 20, dtype=np.uint8).tobytes()
    )
    return bytes(data)


def test_jpegs_with_damaged_scan_data_are_counted_as_corrupt(tmp_path):
    damaged = _damaged_scan_jpeg()
    Image.open(io.BytesIO(damaged)).load()  # what let it through before: no error at all
    # Junk after the last scan leaves every pixel intact: still ingested.
    trailing = jpeg()
    trailing = trailing[:-2] + b"\x00" * 8 + trailing[-2:]
    data = tmp_path / "coco"
    ids = write_coco(
        data, {"good.jpg": jpeg(), "damaged.jpg": damaged, "trailing_junk.jpg": trailing}
    )
    report = run(data, tmp_path / "out")
    assert report["images"]["ingested"] == 2
    (skip,) = report["skipped_images"]
    assert (skip["file_name"], skip["image_id"], skip["reason"]) == (
        "train2017/damaged.jpg",
        ids["damaged.jpg"],
        images.CORRUPT,
    )
    assert skip["detail"].startswith("damaged JPEG data: Corrupt JPEG data")
