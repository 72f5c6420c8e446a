"""The synthetic COCO-format collection and `t2i sample-data`."""

import collections
import hashlib
import json
import os

import pytest
from click.testing import CliRunner
from PIL import Image

from components.common.item_metadata import flickr_id_from_url
from t2i import cli, sample_data

COCO_TOP_LEVEL = {"info", "licenses", "images", "annotations"}
COCO_IMAGE = {
    "license",
    "file_name",
    "coco_url",
    "height",
    "width",
    "date_captured",
    "flickr_url",
    "id",
}
COCO_CAPTION = {"image_id", "id", "caption"}


def tree_digest(root) -> dict:
    digests = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return digests


def documents(root) -> dict:
    result = {}
    for split, _ in sample_data.SPLITS:
        with open(os.path.join(root, "annotations", f"captions_{split}.json")) as f:
            result[split] = json.load(f)
    return result


def test_same_seed_same_bytes_other_seed_other_collection(tmp_path):
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        sample_data.generate(str(tmp_path / name), num_images=25, seed=seed)
    first, again, other = (tree_digest(tmp_path / n) for n in "abc")
    assert first == again and len(first) == 25 + 2
    assert other != first


def test_exact_coco_captions_format(tmp_path):
    summary = sample_data.generate(str(tmp_path), num_images=40, seed=1)
    assert summary["images"] == 40 and summary["captions"] == 200
    all_ids, caption_ids = [], []
    for split, document in documents(tmp_path).items():
        assert set(document) == COCO_TOP_LEVEL
        assert summary["splits"][split] == len(document["images"])
        for image in document["images"]:
            assert set(image) == COCO_IMAGE
            assert isinstance(image["id"], int) and flickr_id_from_url(image["flickr_url"])
            assert image["coco_url"].endswith(f"/{split}/{image['file_name']}")
            with Image.open(tmp_path / split / image["file_name"]) as picture:
                assert (picture.format, picture.mode) == ("JPEG", "RGB")
                assert picture.size == (image["width"], image["height"]) == (128, 128)
            all_ids.append(image["id"])
        for caption in document["annotations"]:
            assert set(caption) == COCO_CAPTION
            caption_ids.append(caption["id"])
    assert sorted(all_ids) == list(range(1, 41))
    assert len(set(caption_ids)) == len(caption_ids)


def test_five_distinct_captions_per_image_and_few_repeats(tmp_path):
    sample_data.generate(str(tmp_path), num_images=300, seed=2)
    per_image = collections.defaultdict(list)
    for document in documents(tmp_path).values():
        for caption in document["annotations"]:
            per_image[caption["image_id"]].append(caption["caption"])
    assert len(per_image) == 300
    assert all(len(c) == 5 and len(set(c)) == 5 for c in per_image.values())
    everything = [c for captions in per_image.values() for c in captions]
    assert len(set(everything)) / len(everything) > 0.8


def test_spans_have_disjoint_ids_and_add_span_appends(tmp_path):
    summary = sample_data.generate(str(tmp_path), num_images=30, seed=3, spans=3)
    assert sorted(summary["spans"]) == [1, 2, 3]
    ids_by_span = {}
    for span in (1, 2, 3, 4):
        if span == 4:
            assert sample_data.add_span(str(tmp_path), 7, seed=3) == str(tmp_path / "span-4")
        span_documents = documents(tmp_path / f"span-{span}").values()
        ids_by_span[span] = {image["id"] for doc in span_documents for image in doc["images"]}
    assert [len(ids) for ids in ids_by_span.values()] == [10, 10, 10, 7]
    assert set.union(*ids_by_span.values()) == set(range(1, 38))


def test_refuses_to_write_over_a_collection(tmp_path):
    sample_data.generate(str(tmp_path), num_images=3, seed=0)
    with pytest.raises(ValueError, match="already holds a collection"):
        sample_data.generate(str(tmp_path), num_images=3, seed=1)
    with pytest.raises(ValueError, match="5 spans need at least as many images"):
        sample_data.generate(str(tmp_path / "new"), num_images=3, spans=5)


def test_cli_writes_the_collection_and_prints_one_summary_line(tmp_path):
    out = tmp_path / "sample"
    result = CliRunner().invoke(
        cli.main,
        ["sample-data", "--out", str(out), "--images", "12", "--seed", "4", "--spans", "2"],
    )
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert line.startswith("sample-data: 12 images, 60 captions (2 spans, seed 4)")
    assert sorted(os.listdir(out)) == ["span-1", "span-2"]

    again = CliRunner().invoke(cli.main, ["sample-data", "--out", str(out)])
    assert again.exit_code == 1 and "already holds a collection" in again.output
