"""CocoExampleGen's ingestion through its plain entry point, on collections each test builds:
every bad-input case of issue 3, the layouts (COCO 2014/2017, generic, spans) and the
executor's use of the pipeline's Beam arguments."""

import io
import json
import os
import resource
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from components.coco_example_gen import annotations, layout, plan, work
from components.common import formats, item_metadata
from example_records import by_file_name, coco_example_gen_properties, read_examples
from t2i import sample_data

# ---------------------------------------------------------------- collection builders


def jpeg(size=(32, 24), color=(200, 30, 30), mode="RGB", **save_args) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="JPEG", **save_args)
    return out.getvalue()


def png(size=(32, 24), color=(30, 200, 30), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height gray pixels with a sliver of data: tiny
    on disk, enormous if anything decoded it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def image_record(image_id: int, file_name: str) -> dict:
    return {
        "id": image_id,
        "file_name": file_name,
        "height": 24,
        "width": 32,
        "license": 1,
        "coco_url": f"http://images.cocodataset.org/x/{file_name}",
        "flickr_url": f"http://farm1.staticflickr.com/1/{9000 + image_id}_abc_z.jpg",
    }


def write_annotations(root, split: str, document) -> str:
    path = os.path.join(str(root), "annotations", f"captions_{split}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(document, f)
    return path


def write_coco(
    root, files: dict, split: str = "train2017", captions: dict = None, first_id: int = 1
) -> dict:
    """COCO layout: annotations/captions_<split>.json and <split>/<file>. `files` maps file
    names to contents (None: listed but not written); each image gets two captions unless
    `captions` says otherwise. Returns file name -> image id."""
    os.makedirs(os.path.join(str(root), split), exist_ok=True)
    ids, images, records = {}, [], []
    for offset, (file_name, data) in enumerate(files.items()):
        image_id = first_id + offset
        ids[file_name] = image_id
        images.append(image_record(image_id, file_name))
        if data is not None:
            path = os.path.join(str(root), split, file_name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        texts = (captions or {}).get(file_name, [f"picture {file_name}", f"photo {image_id}"])
        records += [
            {"image_id": image_id, "id": image_id * 10 + k, "caption": text}
            for k, text in enumerate(texts)
        ]
    write_annotations(
        root, split, {"info": {}, "licenses": [], "images": images, "annotations": records}
    )
    return ids


def decoded(jpeg_bytes: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg_bytes))
    image.load()
    return image


def assert_reconciled(report: dict) -> None:
    images, captions = report["images"], report["captions"]
    assert images["ingested"] + images["skipped"] == images["seen"]
    assert sum(images["skipped_by_reason"].values()) == images["skipped"]
    assert captions["kept"] + captions["skipped"] == captions["seen"]
    assert sum(captions["skipped_by_reason"].values()) == captions["skipped"]
    assert report["splits"]["index"] == images["ingested"]


def run(data_dir, out, **options) -> dict:
    report = work.ingest(str(data_dir), str(out), **options)
    with open(os.path.join(str(out), formats.INGEST_REPORT)) as f:
        assert json.load(f) == report
    assert_reconciled(report)
    return report


# ---------------------------------------------------------------- the happy path


def test_sample_collection_becomes_train_eval_and_index(sample_collection, tmp_path):
    report = run(sample_collection, tmp_path / "out")
    assert (report["images"]["seen"], report["images"]["ingested"]) == (300, 300)
    assert not any(report["images"]["skipped_by_reason"].values())
    assert report["captions"]["kept"] == report["captions"]["seen"] == 1500
    train = read_examples(tmp_path / "out", "train")
    evaluation = read_examples(tmp_path / "out", "eval")
    index = read_examples(tmp_path / "out", "index")
    assert (len(train), len(evaluation), len(index)) == (
        report["splits"]["train"],
        report["splits"]["eval"],
        300,
    )
    train_ids = {row["image_id"][0] for row in train}
    eval_ids = {row["image_id"][0] for row in evaluation}
    assert not train_ids & eval_ids and train_ids | eval_ids == {r["image_id"][0] for r in index}
    assert 0.1 < len(eval_ids) / 300 < 0.3  # eval_fraction 0.2
    for row in index:
        file_name = row["file_name"][0].decode()
        with open(os.path.join(sample_collection, file_name), "rb") as f:
            assert f.read() == row["image"][0]  # RGB JPEG kept byte for byte
        assert len(row["captions"]) == 5 and row["span"] == [0]
        assert (row["height"], row["width"]) == ([128], [128])
        meta = item_metadata.decode(row["metadata"][0])
        assert meta.flickr_id and meta.flickr_id in row["flickr_url"][0].decode()
        assert row["metadata"][0] == f"{meta.flickr_id}_{file_name}".encode()
        assert row["coco_url"][0].decode().endswith(os.path.basename(file_name))


def test_coco_2014_layout_with_coco_splits(tmp_path):
    data = tmp_path / "coco2014"
    train_ids = write_coco(
        data,
        {f"COCO_train2014_{i:012d}.jpg": jpeg() for i in (9, 25)},
        split="train2014",
        first_id=9,
    )
    val_ids = write_coco(
        data,
        {"COCO_val2014_000000000042.jpg": jpeg(), "COCO_val2014_000000000073.jpg": jpeg()},
        split="val2014",
        first_id=42,
        captions={"COCO_val2014_000000000073.jpg": []},
    )
    report = run(data, tmp_path / "out", split_mode="coco")
    assert report["annotation_files"] == [
        "annotations/captions_train2014.json",
        "annotations/captions_val2014.json",
    ]
    train = read_examples(tmp_path / "out", "train")
    assert {row["image_id"][0] for row in train} == set(train_ids.values())
    # The uncaptioned val image is searchable (index) but not an eval pair.
    assert {r["image_id"][0] for r in read_examples(tmp_path / "out", "eval")} == {42}
    index = by_file_name(read_examples(tmp_path / "out", "index"))
    assert set(index) == {f"train2014/{n}" for n in train_ids} | {f"val2014/{n}" for n in val_ids}
    assert "captions" not in index["val2014/COCO_val2014_000000000073.jpg"]  # absent: none

    # COCO 2017 re-splits the same images under the same ids: next to 2014 it is ambiguous
    # until the config picks one release.
    write_coco(data, {"000000000009.jpg": jpeg()}, split="train2017", first_id=9)
    with pytest.raises(annotations.AnnotationError, match="image id 9 is listed in both"):
        work.ingest(str(data), str(tmp_path / "both"), split_mode="coco")
    report = run(
        data,
        tmp_path / "picked",
        split_mode="coco",
        annotations_file="annotations/captions_*2014.json",
    )
    assert report["images"]["ingested"] == 4


def test_generic_collection_one_json_and_one_image_folder(tmp_path):
    data = tmp_path / "generic"
    (data / "photos" / "2024").mkdir(parents=True)
    (data / "photos" / "2024" / "a.jpg").write_bytes(jpeg())
    (data / "photos" / "b.png").write_bytes(png())
    document = {
        "images": [{"id": 1, "file_name": "2024/a.jpg"}, {"id": 2, "file_name": "b.png"}],
        "annotations": [
            {"image_id": 1, "caption": "a red thing"},
            {"image_id": 2, "caption": "a green thing"},
        ],
    }
    (data / "my_captions.json").write_text(json.dumps(document))
    report = run(data, tmp_path / "out")
    assert report["annotation_files"] == ["my_captions.json"]
    index = by_file_name(read_examples(tmp_path / "out", "index"))
    assert set(index) == {"photos/2024/a.jpg", "photos/b.png"}
    assert "flickr_url" not in index["photos/b.png"]  # absent in the data, absent here
    assert index["photos/b.png"]["metadata"][0] == b"_photos/b.png"  # no Flickr id
    run(data, tmp_path / "out-ids", item_metadata=item_metadata.ID_FLICKR_FILE)
    earlier_layout = by_file_name(read_examples(tmp_path / "out-ids", "index"))
    assert earlier_layout["photos/2024/a.jpg"]["metadata"][0] == b"1||photos/2024/a.jpg"
    with pytest.raises(item_metadata.MetadataError, match="layout must be one of"):
        work.ingest(str(data), str(tmp_path / "out-bad"), item_metadata="seeds")

    (data / "thumbnails").mkdir()
    with pytest.raises(layout.LayoutError, match="set data.image_dir"):
        work.ingest(str(data), str(tmp_path / "out2"))
    report = run(data, tmp_path / "out3", annotations_file="my_captions.json", image_dir="photos")
    assert report["images"]["ingested"] == 2
    with pytest.raises(annotations.AnnotationError, match="split mode 'coco' needs COCO's"):
        work.ingest(str(data), str(tmp_path / "out4"), image_dir="photos", split_mode="coco")


def test_spans_latest_and_all(tmp_path):
    data = tmp_path / "spans"
    sample_data.generate(str(data), num_images=12, seed=5, spans=2)
    latest = run(data, tmp_path / "latest", spans="latest")
    assert (latest["span"], latest["spans_ingested"], latest["images"]["ingested"]) == (2, [2], 6)
    rows = read_examples(tmp_path / "latest", "index")
    assert {row["span"][0] for row in rows} == {2}
    assert {row["image_id"][0] for row in rows} == set(range(7, 13))
    for row in rows:
        file_name = row["file_name"][0].decode()
        assert file_name.startswith("span-2/") and os.path.isfile(data / file_name)

    everything = run(data, tmp_path / "all", spans="all")
    assert (everything["span"], everything["spans_ingested"]) == (0, [1, 2])
    rows = read_examples(tmp_path / "all", "index")
    assert {(row["image_id"][0] <= 6, row["span"][0]) for row in rows} == {(True, 1), (False, 2)}

    write_coco(data, {"top.jpg": jpeg()}, first_id=100)  # a top-level collection as well
    with pytest.raises(layout.LayoutError, match="not both"):
        work.ingest(str(data), str(tmp_path / "mixed"), spans="all")


# ---------------------------------------------------------------- bad annotations


def test_malformed_json_fails_naming_file_line_and_column(tmp_path):
    data = tmp_path / "coco"
    write_coco(data, {"a.jpg": jpeg()})
    path = data / "annotations" / "captions_val2017.json"
    path.write_text('{"images": [\n  {"id": 1,, "file_name": "a.jpg"}\n], "annotations": []}')
    message = r"annotations/captions_val2017.json: invalid JSON at line 2, column 12"
    with pytest.raises(annotations.AnnotationError, match=message):
        work.ingest(str(data), str(tmp_path / "out"))


@pytest.mark.parametrize(
    "document, message",
    [
        ([], "the top level is a JSON array, expected an object"),
        (
            {"images": [], "categories": []},
            "missing top-level key 'annotations'.*found 'images', 'categories'",
        ),
        (
            {"images": {"1": "a.jpg"}, "annotations": []},
            "top-level 'images' is a JSON object, expected a list",
        ),
        (
            {"images": [{"id": "1", "file_name": "a.jpg"}], "annotations": []},
            r"images\[0\].id must be an integer, got '1'",
        ),
        ({"images": [{"id": 1}], "annotations": []}, r"images\[0\] \(id 1\).file_name must be"),
    ],
)
def test_wrong_structure_fails_naming_file_and_problem(tmp_path, document, message):
    data = tmp_path / "coco"
    write_annotations(data, "train2017", document)
    with pytest.raises(
        annotations.AnnotationError, match=f"annotations/captions_train2017.json: .*{message}"
    ):
        work.ingest(str(data), str(tmp_path / "out"))


def test_duplicate_image_id_fails_naming_the_id(tmp_path):
    data = tmp_path / "coco"
    write_coco(data, {"a.jpg": jpeg(), "b.jpg": jpeg()})
    document = json.loads((data / "annotations" / "captions_train2017.json").read_text())
    document["images"][1]["id"] = 1
    write_annotations(data, "train2017", document)
    twice = r"image id 1 appears twice in images\[\] \(images\[0\] and images\[1\]\)"
    with pytest.raises(annotations.AnnotationError, match=twice):
        work.ingest(str(data), str(tmp_path / "out"))

    write_coco(data, {"a.jpg": jpeg()}, split="train2017", first_id=7)
    write_coco(data, {"c.jpg": jpeg()}, split="val2017", first_id=7)
    with pytest.raises(
        annotations.AnnotationError,
        match="image id 7 is listed in both annotations/captions_train2017.json "
        "and annotations/captions_val2017.json",
    ):
        work.ingest(str(data), str(tmp_path / "out"))


def test_caption_problems_are_counted_and_listed(tmp_path):
    data = tmp_path / "coco"
    long_caption = " ".join(["word"] * 3000)
    ids = write_coco(
        data,
        {"a.jpg": jpeg(), "b.jpg": jpeg(), "gone.jpg": None},
        captions={
            "a.jpg": [
                "a red square",
                "  padded caption \n",
                long_caption,
                "",
                "   \t ",
                "NON_UTF8_BYTES",
                "\ud800 lone surrogate",
            ],
            "b.jpg": [],
            "gone.jpg": ["kept if the image were here", "this one too"],
        },
    )
    path = data / "annotations" / "captions_train2017.json"
    document = json.loads(path.read_text())
    document["annotations"] += [
        {"image_id": 999, "caption": "whose image?"},
        {"image_id": 998, "caption": "nobody's"},
        {"image_id": ids["a.jpg"]},
        {"image_id": str(ids["a.jpg"]), "caption": "id is a string"},
        "not an object",
    ]
    raw = json.dumps(document).encode().replace(b"NON_UTF8_BYTES", b"caf\xe9 au lait")
    path.write_bytes(raw)

    report = run(data, tmp_path / "out")
    assert report["captions"]["seen"] == 14
    assert report["captions"]["kept"] == 3
    assert report["captions"]["skipped_by_reason"] == {
        "unknown_image_id": 2,
        "empty": 1,
        "whitespace_only": 1,
        "non_utf8": 2,
        "invalid_record": 3,
        "image_skipped": 2,
    }
    listed = {(s["reason"], s["index"]) for s in report["skipped_captions"]}
    assert ("unknown_image_id", 9) in listed and ("non_utf8", 5) in listed
    assert all(
        s["annotations_file"] == "annotations/captions_train2017.json"
        for s in report["skipped_captions"]
    )
    index = by_file_name(read_examples(tmp_path / "out", "index"))
    assert index["train2017/a.jpg"]["captions"] == [
        b"a red square",
        b"padded caption",
        long_caption.encode(),
    ]
    assert "captions" not in index["train2017/b.jpg"]  # absent: none
    captioned = read_examples(tmp_path / "out", "train") + read_examples(tmp_path / "out", "eval")
    assert [row["image_id"][0] for row in captioned] == [ids["a.jpg"]]
    assert report["images"]["skipped_by_reason"]["missing"] == 1


def test_empty_collection_is_an_error(tmp_path):
    data = tmp_path / "coco"
    write_annotations(data, "train2017", {"images": [], "annotations": []})
    with pytest.raises(annotations.AnnotationError, match="the collection is empty"):
        work.ingest(str(data), str(tmp_path / "out"))

    with pytest.raises(layout.LayoutError, match="no annotations file matches"):
        work.ingest(str(tmp_path / "nothing-here"), str(tmp_path / "out"))

    write_coco(data, {"a.jpg": None, "b.jpg": b""})
    with pytest.raises(
        work.NothingIngestedError,
        match=r"none of the 2 listed images .*'missing': 1, 'empty_file': 1",
    ):
        work.ingest(str(data), str(tmp_path / "out"))
    with open(tmp_path / "out" / formats.INGEST_REPORT) as f:
        assert json.load(f)["images"]["skipped"] == 2  # the report explains the failure


# ---------------------------------------------------------------- bad images

_GOOD = {"good.jpg": jpeg(), "also_good.jpg": jpeg(color=(0, 0, 255))}


def _truncated_jpeg() -> bytes:
    pixels = Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3))
    out = io.BytesIO()
    pixels.save(out, format="JPEG")
    return out.getvalue()[: len(out.getvalue()) // 2]


@pytest.mark.parametrize(
    "case, reason",
    [
        ("missing", "missing"),
        ("directory", "not_a_regular_file"),
        ("zero_bytes", "empty_file"),
        ("truncated", "truncated"),
        ("corrupt", "corrupt"),
    ],
)
def test_bad_image_is_skipped_counted_and_listed(tmp_path, case, reason):
    data = tmp_path / "coco"
    contents = {
        "missing": None,
        "directory": None,
        "zero_bytes": b"",
        "truncated": _truncated_jpeg(),
        "corrupt": b"\xff\xd8\xff\xe0 this is not really a JPEG" * 20,
    }[case]
    ids = write_coco(data, {**_GOOD, "bad.jpg": contents})
    if case == "directory":
        (data / "train2017" / "bad.jpg").mkdir()
    report = run(data, tmp_path / "out")
    assert report["images"]["ingested"] == 2
    assert report["images"]["skipped"] == report["images"]["skipped_by_reason"][reason] == 1
    (listed,) = report["skipped_images"]
    assert (listed["file_name"], listed["image_id"], listed["reason"]) == (
        "train2017/bad.jpg",
        ids["bad.jpg"],
        reason,
    )
    assert report["captions"]["skipped_by_reason"]["image_skipped"] == 2
    assert set(by_file_name(read_examples(tmp_path / "out", "index"))) == {
        "train2017/good.jpg",
        "train2017/also_good.jpg",
    }


def test_other_formats_become_upright_rgb_jpeg(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate it 90 degrees clockwise
    sixteen_bit = Image.fromarray(np.full((20, 30), 50000, dtype=np.uint16))
    sixteen_bit_png = io.BytesIO()
    sixteen_bit.save(sixteen_bit_png, format="PNG")
    files = {
        "rgb.jpg": jpeg((40, 30), (10, 120, 240)),
        "plain.png": png((40, 30), (30, 200, 30)),
        "alpha.png": png((40, 30), (0, 0, 0, 0), mode="RGBA"),
        "gray.jpg": jpeg((40, 30), 90, mode="L"),
        "cmyk.jpg": jpeg((40, 30), (0, 255, 255, 0), mode="CMYK"),
        "sixteen_bit.png": sixteen_bit_png.getvalue(),
        "rotated.jpg": jpeg((40, 20), (200, 10, 10), exif=exif.tobytes()),
    }
    write_coco(tmp_path / "coco", files)
    report = run(tmp_path / "coco", tmp_path / "out")
    assert report["images"]["ingested"] == len(files)
    index = by_file_name(read_examples(tmp_path / "out", "index"))
    for name in files:
        row = index[f"train2017/{name}"]
        image = decoded(row["image"][0])
        assert (image.format, image.mode) == ("JPEG", "RGB"), name
        assert (row["width"][0], row["height"][0]) == image.size, name
        assert image.getexif().get(0x0112, 1) == 1, name
    assert index["train2017/rgb.jpg"]["image"][0] == files["rgb.jpg"]  # kept as is
    assert decoded(index["train2017/rotated.jpg"]["image"][0]).size == (20, 40)

    def centre(name):
        return decoded(index[f"train2017/{name}"]["image"][0]).getpixel((10, 10))

    def near(pixel, expected):
        return all(abs(a - b) <= 12 for a, b in zip(pixel, expected))

    assert near(centre("plain.png"), (30, 200, 30))
    assert near(centre("alpha.png"), (255, 255, 255))  # transparent -> white, not black
    assert near(centre("gray.jpg"), (90, 90, 90))
    assert near(centre("cmyk.jpg"), (255, 0, 0))
    assert near(centre("sixteen_bit.png"), (195, 195, 195))  # 50000/65535, not clipped white
    assert near(centre("rotated.jpg"), (200, 10, 10))


def test_decompression_bomb_is_skipped_without_decoding(tmp_path):
    # 60000 x 60000 gray = 3.6 GB decoded; 8000 x 8000 is over max_image_pixels but under
    # PIL's own limit, so only our header check can stop it.
    files = {
        **_GOOD,
        "bomb.png": png_header_only(60000, 60000),
        "big.png": png_header_only(8000, 8000),
    }
    write_coco(tmp_path / "coco", files)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = run(tmp_path / "coco", tmp_path / "out", max_image_pixels=40_000_000)
    peak_rise_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert report["images"]["skipped_by_reason"]["decompression_bomb"] == 2
    assert report["images"]["ingested"] == 2
    assert {s["file_name"] for s in report["skipped_images"]} == {
        "train2017/bomb.png",
        "train2017/big.png",
    }
    big = next(s for s in report["skipped_images"] if s["file_name"].endswith("big.png"))
    assert "8000x8000 = 64000000 pixels > 40000000" in big["detail"]
    assert peak_rise_mb < 500


def test_file_names_escaping_the_image_folder_are_rejected(tmp_path):
    data = tmp_path / "coco"
    (tmp_path / "secret.jpg").write_bytes(jpeg())
    (data / "secret.jpg").parent.mkdir(parents=True)
    (data / "secret.jpg").write_bytes(jpeg())
    ids = write_coco(
        data,
        {
            "ok.jpg": jpeg(),
            "../secret.jpg": None,
            str(tmp_path / "secret.jpg"): None,
            "link_out.jpg": None,
            "link_in.jpg": None,
            "sub/../ok.jpg": None,
        },
    )
    os.symlink(tmp_path / "secret.jpg", data / "train2017" / "link_out.jpg")
    os.symlink("ok.jpg", data / "train2017" / "link_in.jpg")
    report = run(data, tmp_path / "out")
    assert report["images"]["skipped_by_reason"]["outside_image_dir"] == 3
    rejected = {s["image_id"] for s in report["skipped_images"]}
    escaping = ("../secret.jpg", str(tmp_path / "secret.jpg"), "link_out.jpg")
    assert rejected == {ids[name] for name in escaping}
    index = by_file_name(read_examples(tmp_path / "out", "index"))
    # A link that stays inside is fine; a name that wanders but ends inside is normalised.
    assert set(index) == {"train2017/ok.jpg", "train2017/link_in.jpg"}
    assert (
        len(
            [
                r
                for r in read_examples(tmp_path / "out", "index")
                if r["file_name"] == [b"train2017/ok.jpg"]
            ]
        )
        == 2
    )


# ---------------------------------------------------------------- splits and the executor


def test_hash_split_is_deterministic_and_follows_the_fraction():
    splits = [plan.hash_split(image_id, 0.2) for image_id in range(1, 5001)]
    assert splits == [plan.hash_split(image_id, 0.2) for image_id in range(1, 5001)]
    assert 0.18 < splits.count(formats.SPLIT_EVAL) / len(splits) < 0.22
    with pytest.raises(ValueError, match="eval_fraction"):
        plan.check_options("hash", 1.0, 100)
    with pytest.raises(ValueError, match="split mode"):
        plan.check_options("random", 0.2, 100)


def test_executor_builds_its_beam_pipeline_from_the_pipeline_args(tmp_path):
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.types import artifact_utils, standard_artifacts

    from components.coco_example_gen.executor import Executor

    data = tmp_path / "coco"
    write_coco(data, {"a.jpg": jpeg(), "b.jpg": jpeg(), "c.jpg": None})

    def execute(beam_args, name):
        examples = standard_artifacts.Examples()
        examples.uri = str(tmp_path / name)
        context = BaseBeamExecutor.Context(
            beam_pipeline_args=beam_args, tmp_dir=str(tmp_path), unique_id=name
        )
        Executor(context).Do(
            {}, {"examples": [examples]}, coco_example_gen_properties(str(data), eval_fraction=0.5)
        )
        return examples

    # --sdk_container_image keeps TFX from building a throw-away sdist for the workers.
    examples = execute(
        [
            "--direct_running_mode=multi_threading",
            "--direct_num_workers=2",
            "--sdk_container_image=unused",
        ],
        "threads",
    )
    assert artifact_utils.decode_split_names(examples.split_names) == list(formats.SPLITS)
    assert examples.get_int_custom_property("images_seen") == 3
    assert examples.get_int_custom_property("images_skipped_missing") == 1
    assert examples.get_int_custom_property("split_index_count") == 2
    assert examples.get_string_custom_property("payload_format") == "FORMAT_TF_EXAMPLE"
    assert os.path.isfile(tmp_path / "threads" / formats.INGEST_REPORT)
    with pytest.raises(ValueError, match="NoSuchRunner"):
        execute(["--runner=NoSuchRunner", "--sdk_container_image=unused"], "bad")
