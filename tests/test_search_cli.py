"""`t2i search`: the real command in subprocesses, against a real built searcher."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from components.common import formats
from searcher_fixtures import REPO_ROOT, built_searcher, item_metadata_for

T2I = os.path.join(os.path.dirname(sys.executable), "t2i")


def t2i(*args, cwd=REPO_ROOT):
    return subprocess.run(
        [T2I, "search", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return built_searcher(tmp_path_factory.mktemp("cli"))


@pytest.fixture(scope="module")
def searcher(build):
    return os.path.join(build["searcher"], formats.SEARCHER_TFLITE)


def test_text_search_prints_ranked_results_with_flickr_urls(searcher, build):
    result = t2i("a red circle on the left", "--searcher", searcher, "-k", "4")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["rank", "similarity", "image"]
    ranks = [line.split() for line in lines[1:] if not line.startswith(" " * 10)]
    assert [int(r[0]) for r in ranks] == [1, 2, 3, 4]
    sims = [float(r[1]) for r in ranks]
    assert sims == sorted(sims, reverse=True)
    known = {int(i) for i in build["ids"]}
    assert all(int(r[2]) in known and r[3].startswith("val2017/") for r in ranks)
    odd = [int(r[2]) for r in ranks if int(r[2]) % 2]
    assert result.stdout.count("https://www.flickr.com/photo.gne?id=") == len(odd)


def test_json_output_matches_the_item_metadata(searcher, tmp_path):
    result = t2i("blue square", "--searcher", searcher, "--json", "-k", "3")
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["query"] == "blue square" and reply["searcher"] == searcher
    assert [hit["rank"] for hit in reply["results"]] == [1, 2, 3]
    for hit in reply["results"]:
        assert hit["metadata"] == item_metadata_for(hit["image_id"]).decode()
    sims = [hit["similarity"] for hit in reply["results"]]
    assert sims == sorted(sims, reverse=True)

    # --queries-file: every line through one searcher, each answered as alone.
    queries = tmp_path / "queries.txt"
    queries.write_text("blue square\n\na red circle on the left\n")
    many = t2i("--queries-file", str(queries), "--searcher", searcher, "--json", "-k", "3")
    assert many.returncode == 0, many.stderr
    answered = json.loads(many.stdout)["queries"]
    assert [a["query"] for a in answered] == ["blue square", "a red circle on the left"]
    assert answered[0]["results"] == reply["results"]
    assert [hit["rank"] for hit in answered[1]["results"]] == [1, 2, 3]
    # A query the searcher refuses fails the whole file, naming the file and the query.
    queries.write_text("blue square\nzebra xylophone\n")
    refused = t2i("--queries-file", str(queries), "--searcher", searcher)
    assert refused.returncode == 1 and refused.stdout == ""
    assert f"{queries}: query 2 ('zebra xylophone'): no word of the query" in refused.stderr


def test_search_never_imports_tensorflow_or_tfx(searcher):
    code = (
        "import sys\n"
        "from t2i import search\n"
        f"path, hits = search.search(search.SearchRequest('a red circle', searcher={searcher!r}))\n"
        "assert hits, 'no hits'\n"
        "loaded = [m for m, v in sys.modules.items() if v is not None and\n"
        "          (m == 'tensorflow' or m.startswith(('tensorflow.', 'tfx', 'keras', 'tf_keras')))]\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_image_search_and_contact_sheet(build, tmp_path):
    images = tmp_path / "collection"
    for image_id in build["ids"]:
        path = images / f"val2017/{image_id:012d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((20, 30, 3), image_id % 255, np.uint8)).save(path)
    query = tmp_path / "query.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(query)
    sheet = tmp_path / "sheet.png"
    result = t2i(
        "--image",
        str(query),
        "--searcher",
        build["searcher"],
        "-k",
        "6",
        "--show",
        str(sheet),
        "--images",
        str(images),
    )
    assert result.returncode == 0, result.stderr
    assert (
        len(
            [
                line
                for line in result.stdout.splitlines()[1:]
                if not line.startswith(" " * 10) and not line.startswith("wrote")
            ]
        )
        == 6
    )
    assert f"wrote contact sheet {sheet}" in result.stdout
    with Image.open(sheet) as image:  # a title row, then 3 + 3 tiles with 2 caption lines
        assert image.size == (3 * 224, 34 + 2 * (20 + 224 + 2 * 16 + 6))


def test_latest_and_version_numbers_resolve_pushed_searchers(build, tmp_path):
    from components.common import serving

    serving_dir = str(tmp_path / "serving")
    files = {
        name: os.path.join(build["searcher"], name)
        for name in (formats.SEARCHER_TFLITE, formats.IMAGE_SEARCHER_TFLITE)
    }
    for _ in range(2):
        serving.publish(files, serving_dir, {"test": True})
    config = tmp_path / "config.yaml"
    config.write_text(f"pusher:\n  serving_dir: {serving_dir}\n")
    result = t2i("red", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["searcher"] == os.path.join(
        serving_dir, "2", formats.SEARCHER_TFLITE
    )
    result = t2i("red", "--config", str(config), "--searcher", "1", "--json")
    assert json.loads(result.stdout)["searcher"] == os.path.join(
        serving_dir, "1", formats.SEARCHER_TFLITE
    )
    result = t2i("red", "--config", str(config), "--searcher", "7")
    assert result.returncode == 1 and "no version 7 (versions: 1, 2)" in result.stderr


@pytest.mark.parametrize(
    "query,message",
    [
        ("", "the query is empty"),
        ("  ?! ", "the query is empty"),
        (
            "zebra xylophone",
            "no word of the query is in the model's vocabulary ('zebra', 'xylophone')",
        ),
    ],
)
def test_queries_without_known_words_are_refused(searcher, query, message):
    result = t2i(query, "--searcher", searcher)
    assert result.returncode == 1 and result.stdout == ""
    assert message in result.stderr


def test_a_query_with_some_unknown_words_still_searches(searcher):
    assert t2i("a zebra circle", "--searcher", searcher).returncode == 0


def _corrupt_copies(searcher, tmp_path):
    import zipfile

    data = open(searcher, "rb").read()
    with zipfile.ZipFile(searcher) as archive:
        index = archive.getinfo("on_device_scann_index.ldb")
        model_end = min(info.header_offset for info in archive.infolist())
    middle = index.header_offset + 100 + index.file_size // 2
    cases = {
        "missing.tflite": None,
        "empty.tflite": b"",
        "text.tflite": b"this is not a model\n" * 10,
        "truncated.tflite": data[: len(data) // 2],
        "damaged_index.tflite": data[:middle] + b"\0" * 64 + data[middle + 64 :],
        "damaged_model.tflite": data[:100] + bytes(range(64)) + data[164:],
    }
    paths = {}
    for name, content in cases.items():
        paths[name] = str(tmp_path / name)
        if content is not None:
            with open(paths[name], "wb") as f:
                f.write(content)
    assert model_end > 164
    return paths


@pytest.mark.parametrize(
    "name,message",
    [
        ("missing.tflite", "no such file"),
        ("empty.tflite", "empty or truncated"),
        ("text.tflite", "not a TFLite model"),
        ("truncated.tflite", "no on-device index packed"),
        ("damaged_index.tflite", "packed file on_device_scann_index.ldb is corrupt"),
        ("damaged_model.tflite", "the Task Library cannot load it"),
    ],
)
def test_missing_or_corrupt_searchers_get_a_message_naming_the_file(
    searcher, tmp_path, name, message
):
    path = _corrupt_copies(searcher, tmp_path)[name]
    result = t2i("a red circle", "--searcher", path)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith(f"error: {path}: ") and message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_text_encoder_without_index_and_other_misuse(build, tmp_path):
    encoder = os.path.join(build["text_encoder"], formats.TEXT_ENCODER_TFLITE)
    result = t2i("red", "--searcher", encoder)
    assert result.returncode == 1 and "no on-device index packed" in result.stderr
    result = t2i("red", "--image", "x.png", "--searcher", build["searcher"])
    assert result.returncode == 1 and "either a query text or --image" in result.stderr
    result = t2i("--image", str(tmp_path / "nope.jpg"), "--searcher", build["searcher"])
    assert result.returncode == 1 and "nope.jpg: no such image file" in result.stderr
    result = t2i("red", "--config", str(tmp_path / "none.yaml"))
    assert result.returncode == 1 and "no such config file" in result.stderr
    result = t2i("red", "--config", "/dev/null")
    assert result.returncode == 1
    empty = tmp_path / "serving"
    empty.mkdir()
    (tmp_path / "c.yaml").write_text(f"pusher:\n  serving_dir: {empty}\n")
    result = t2i("red", "--config", str(tmp_path / "c.yaml"))
    assert result.returncode == 1 and "nothing pushed yet" in result.stderr


def test_an_unquoted_query_is_the_rest_of_the_line(searcher):
    unquoted = t2i("a", "red", "circle", "--searcher", searcher, "--json", "-k", "3")
    quoted = t2i("a red circle", "--searcher", searcher, "--json", "-k", "3")
    assert unquoted.returncode == 0, unquoted.stderr
    assert json.loads(unquoted.stdout) == json.loads(quoted.stdout)
