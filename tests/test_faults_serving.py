"""Issue 15 case 8: a damaged pushed searcher is noticed and repaired; a `latest` whose
version was deleted gets a message listing the versions that exist. Real files in a temp
serving folder; the whole-pipeline check (a cached re-run repairs it) is in
test_faults_pipeline.py."""

import json
import os

import pytest

from components.common import serving


def _sources(tmp_path):
    source = tmp_path / "artifact"
    (source / "scann_server_index").mkdir(parents=True, exist_ok=True)
    (source / "searcher.tflite").write_bytes(b"\0\0\0\0TFL3" + os.urandom(5000))
    (source / "scann_server_index" / "part.npy").write_bytes(os.urandom(300))
    return {
        "searcher.tflite": str(source / "searcher.tflite"),
        "scann_server_index": str(source / "scann_server_index"),
    }


def test_the_push_records_size_and_sha256_of_every_file(tmp_path):
    version, directory = serving.publish(_sources(tmp_path), str(tmp_path / "serving"), {})
    with open(os.path.join(directory, serving.MANIFEST_FILE)) as f:
        files = json.load(f)["files"]
    assert set(files) == {"searcher.tflite", "scann_server_index/part.npy"}
    assert files["searcher.tflite"]["bytes"] == 5008
    assert files["searcher.tflite"] == {
        **serving.file_digest(os.path.join(directory, "searcher.tflite")),
        "source": str(tmp_path / "artifact" / "searcher.tflite"),
    }
    assert (
        serving.damaged_files(directory) == []
        and serving.check_and_repair(str(tmp_path / "serving")) == []
    )


def test_a_truncated_or_changed_serving_copy_is_restored_from_the_artifact(tmp_path):
    serving_dir = str(tmp_path / "serving")
    _, directory = serving.publish(_sources(tmp_path), serving_dir, {})
    original = open(os.path.join(directory, "searcher.tflite"), "rb").read()
    with open(os.path.join(serving_dir, "latest", "searcher.tflite"), "r+b") as f:
        f.truncate(100)
    with open(os.path.join(directory, "scann_server_index", "part.npy"), "r+b") as f:
        f.write(b"XX")
    assert serving.damaged_files(directory) == [
        "scann_server_index/part.npy: content changed since the push (sha256 differs)",
        "searcher.tflite: 100 bytes, 5008 when pushed",
    ]
    (note,) = serving.check_and_repair(serving_dir)
    assert note.startswith("serving: version 1 was damaged (scann_server_index/part.npy: ")
    assert note.endswith("restored from the pushed artifacts")
    assert open(os.path.join(directory, "searcher.tflite"), "rb").read() == original
    assert serving.damaged_files(directory) == []

    os.unlink(os.path.join(directory, "searcher.tflite"))
    os.unlink(tmp_path / "artifact" / "searcher.tflite")
    with pytest.raises(
        serving.ServingError,
        match=r"searcher.tflite is damaged and its source "
        r".*artifact/searcher.tflite is gone",
    ):
        serving.check_and_repair(serving_dir)


def test_latest_pointing_at_a_deleted_version_names_the_versions_and_is_re_pointed(tmp_path):
    import shutil

    serving_dir = str(tmp_path / "serving")
    for _ in range(3):
        serving.publish(_sources(tmp_path), serving_dir, {})
    shutil.rmtree(os.path.join(serving_dir, "3"))
    with pytest.raises(
        serving.ServingError,
        match=r"'latest' points at version 3, which no longer exists "
        r"\(versions: 1, 2\)",
    ):
        serving.resolve(serving_dir)
    (note,) = serving.check_and_repair(serving_dir)
    assert note == (
        "serving: 'latest' pointed at version 3, which no longer exists "
        "(versions: 1, 2); it now points at version 2"
    )
    assert serving.resolve(serving_dir) == os.path.realpath(os.path.join(serving_dir, "2"))
