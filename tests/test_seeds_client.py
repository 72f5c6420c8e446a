"""The seeds' client, written from its description, against a searcher the real pipeline
pushed (conftest.e2e_runs), through the Task Library in a TF-free process.

The description: each result's metadata is read as `metadata.decode('utf-8').split('_')`,
`[0]` is the Flickr id, `'_'.join([1:])` the image path, and the client prints
`http://flickr.com/photo.gne?id=<flickr id>`.
"""

import json
import os
import subprocess
import sys

import pytest

from components.common import item_metadata
from conftest import REPO_ROOT

# The client as the seeds describe it; only the TensorFlow block is ours (a phone has no
# TensorFlow, and tflite_support cannot be imported next to it: DESIGN.md section 3).
SEEDS_CLIENT = """
import sys
sys.modules["tensorflow"] = None
from tflite_support.task import text

searcher = text.TextSearcher.create_from_file(sys.argv[1])
result = searcher.search(sys.argv[2])
for neighbor in result.nearest_neighbors:
    metadata = neighbor.metadata.decode('utf-8').split('_')
    flickr_id = metadata[0]
    image_path = '_'.join(metadata[1:])
    print(image_path)
    print(f'http://flickr.com/photo.gne?id={flickr_id}')
"""


def seeds_parse(metadata: bytes) -> tuple[str, str]:
    """The client's two lines of parsing, for the cases the sample data lacks."""
    parts = metadata.decode("utf-8").split("_")
    return parts[0], "_".join(parts[1:])


def test_the_seeds_parsing_reads_paths_with_underscores_and_images_without_flickr_ids():
    cases = [
        item_metadata.ItemMetadata(7, "span-2/train2017/my_dog_1.jpg", "3581246192"),
        item_metadata.ItemMetadata(8, "photos/no_flickr.png", ""),
        item_metadata.ItemMetadata(9, "plain.jpg", "12"),
    ]
    for item in cases:
        assert seeds_parse(item.encode()) == (item.flickr_id, item.file_name)


@pytest.mark.slow
def test_the_seeds_client_prints_real_flickr_links_and_image_paths(e2e_runs, tmp_path):
    config, outcomes = e2e_runs
    from t2i.paths import Paths

    searcher = os.path.join(Paths.from_config(config).serving_dir, "latest", "searcher.tflite")
    script = tmp_path / "seeds_client.py"
    script.write_text(SEEDS_CLIENT)
    result = subprocess.run(
        [sys.executable, str(script), searcher, "a red circle"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) >= 2 and len(lines) % 2 == 0
    flickr_of = {}
    data_dir = config.data.data_dir
    for span in os.listdir(data_dir):
        folder = os.path.join(data_dir, span, "annotations")
        for name in os.listdir(folder):
            split = name.removeprefix("captions_").removesuffix(".json")
            with open(os.path.join(folder, name)) as f:
                for image in json.load(f)["images"]:
                    flickr_of[f"{span}/{split}/{image['file_name']}"] = (
                        item_metadata.flickr_id_from_url(image.get("flickr_url", ""))
                    )
    for path, link in zip(lines[::2], lines[1::2]):
        assert os.path.isfile(os.path.join(data_dir, path)), path
        assert link == f"http://flickr.com/photo.gne?id={flickr_of[path]}"
        assert flickr_of[path].isdigit()  # every sample image has a Flickr id
