"""`t2i serve`: the real command in its own (TF-free) process over the real store that
conftest.e2e_runs leaves (versions 1 and 2 pushed by real pipeline runs), queried with an
HTTP client and with a real browser (Debian's chromium, driven by playwright).
"""

import io
import json
import os
import socket
import subprocess
import time

import numpy as np
import pytest
import requests
from PIL import Image

from conftest import E2E_NEW_SPAN_IMAGES, E2E_SPAN_IMAGES, REPO_ROOT, VENV_BIN

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def store(e2e_runs):
    config, outcomes = e2e_runs
    assert outcomes["rebuild"][0].pushed[0] == 2, outcomes["rebuild"][1]
    return config


@pytest.fixture(scope="module")
def server(store):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    process = subprocess.Popen(
        [
            os.path.join(VENV_BIN, "t2i"),
            "serve",
            "--root",
            store.pipeline.root,
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/api/versions", timeout=30).status_code == 200:
                    break
            except requests.RequestException:  # not up yet, or slow to answer on a busy machine
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"t2i serve did not start: {process.poll()}")
            time.sleep(0.2)
        yield base, process
    finally:  # whatever happened, the server process does not outlive the tests
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def base(server):
    return server[0]


def annotations_by_file(data_dir: str) -> dict:
    """file name (relative to the collection root) -> (image id, captions), read here
    independently of the app's catalog."""
    found = {}
    for span in sorted(os.listdir(data_dir)):
        folder = os.path.join(data_dir, span, "annotations")
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name)) as f:
                document = json.load(f)
            split = name.removeprefix("captions_").removesuffix(".json")
            captions = {}
            for a in document["annotations"]:
                captions.setdefault(a["image_id"], []).append(a["caption"])
            for image in document["images"]:
                found[f"{span}/{split}/{image['file_name']}"] = (image["id"], captions[image["id"]])
    return found


def png_bytes(size=(512, 512), colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), colour, np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- JSON API


def test_text_search_returns_k_images_with_ids_captions_and_files(base, store):
    reply = requests.get(f"{base}/api/search", params={"q": "a red circle", "k": 6}).json()
    assert reply["version"] == 2 and reply["k"] == 6 and reply["warning"] == ""
    assert reply["search_ms"] > 0
    results = reply["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5, 6]
    similarities = [r["similarity"] for r in results]
    assert similarities == sorted(similarities, reverse=True) and similarities[0] <= 1.0
    truth = annotations_by_file(store.data.data_dir)
    for result in results:
        image_id, captions = truth[result["file_name"]]
        assert result["image_id"] == image_id and result["captions"] == captions
        assert result["metadata"].split("_", 1)[1] == result["file_name"]
        image = requests.get(base + result["image_url"])
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"  # a JPEG


def test_each_version_answers_from_its_own_index(base):
    new_span = "span-3/"
    seen = {1: set(), 2: set()}
    for version in (1, 2):
        for query in ("red circle", "blue square", "green triangle", "yellow"):
            reply = requests.get(
                f"{base}/api/search", params={"q": query, "k": 100, "version": version}
            ).json()
            assert reply["version"] == version
            seen[version] |= {r["file_name"] for r in reply["results"]}
    assert not any(name.startswith(new_span) for name in seen[1])
    assert any(name.startswith(new_span) for name in seen[2])


def test_a_query_of_mostly_unknown_words_is_answered_with_a_warning(base):
    reply = requests.get(f"{base}/api/search", params={"q": "zebra xylophone circle"}).json()
    assert reply["unknown_words"] == ["zebra", "xylophone"]
    assert "2 of the query's 3 words are unknown" in reply["warning"]


def test_image_upload_and_more_like_this_go_through_the_image_searcher(base):
    reply = requests.post(
        f"{base}/api/search/image",
        data={"k": 3},
        files={"file": ("red.png", png_bytes(), "image/png")},
    ).json()
    assert reply["image"] == "red.png" and len(reply["results"]) == 3
    assert all(r["similarity"] <= 1.0 and r["captions"] for r in reply["results"])
    first = reply["results"][0]["file_name"]
    like = requests.get(f"{base}/api/similar", params={"path": first, "k": 3}).json()
    assert like["results"][0]["file_name"] == first  # an indexed image finds itself first


def test_runs_lineage_and_diff(base, store):
    runs = requests.get(f"{base}/api/runs").json()
    assert len(runs) == 4 and {r["state"] for r in runs} == {"complete"}
    assert [r["pushed_version"] for r in runs][:2] == [None, 2] or runs[1]["pushed_version"] == 2
    first = runs[-1]
    assert first["pushed_version"] == 1
    assert first["figures"]["images"] == E2E_SPAN_IMAGES
    assert 0.9 <= first["figures"]["device R@10"] <= 1.0
    graph = requests.get(f"{base}/api/lineage", params={"target": "v2"}).json()
    types = {a["type"] for a in graph["artifacts"]}
    assert {"t2i.Searcher", "Examples", "Model", "PushedModel"} <= types
    diff = requests.get(f"{base}/api/diff", params={"a": "1", "b": "latest"}).json()
    assert diff["version_a"] == 1 and diff["version_b"] == 2
    assert any(
        c["key"] == "num_items" and c["b"] == str(E2E_SPAN_IMAGES + E2E_NEW_SPAN_IMAGES)
        for c in diff["changed"]
    )


def test_openapi_describes_the_api(base):
    paths = requests.get(f"{base}/openapi.json").json()["paths"]
    assert {
        "/api/search",
        "/api/similar",
        "/api/search/image",
        "/api/runs",
        "/api/lineage",
        "/api/diff",
        "/api/versions",
    } <= set(paths)
    assert not any(p.startswith(("/images", "/reports")) for p in paths)


@pytest.mark.parametrize(
    "path,params,status,message",
    [
        ("/api/search", {"q": ""}, 400, "the query is empty"),
        ("/api/search", {"q": "?!"}, 400, "the query is empty"),
        (
            "/api/search",
            {"q": "zebra xylophone"},
            400,
            "no word of the query is in the model's vocabulary",
        ),
        ("/api/search", {"q": "red " * 300}, 422, "at most 1000 characters"),
        ("/api/search", {}, 422, "Field required"),
        ("/api/search", {"q": "red", "k": 0}, 422, "greater than or equal to 1"),
        ("/api/search", {"q": "red", "k": 101}, 422, "less than or equal to 100"),
        ("/api/search", {"q": "red", "k": "five"}, 422, "valid integer"),
        ("/api/search", {"q": "red", "version": 9}, 404, "no version 9 (versions: 1, 2)"),
        ("/api/search", {"q": "red", "version": 0}, 422, "greater than or equal to 1"),
        ("/api/similar", {"path": "../../../etc/passwd"}, 404, "is no image of version 2"),
        ("/api/similar", {"path": "span-1/train2017/nope.jpg", "k": 3}, 404, "is no image"),
        ("/api/similar", {"path": "x", "k": -1}, 422, "greater than or equal to 1"),
        ("/api/lineage", {"target": "nonsense"}, 404, "is not an artifact id"),
        ("/api/lineage", {"target": "v7"}, 404, "no pushed version 'v7'"),
        ("/api/lineage", {"target": "latest", "downstream": "maybe"}, 422, "valid boolean"),
        ("/api/diff", {"a": "1", "b": "9"}, 404, "no pushed version 'v9'"),
        ("/api/diff", {"a": "1"}, 422, "Field required"),
    ],
)
def test_bad_parameters_get_a_4xx_with_a_message(base, path, params, status, message):
    reply = requests.get(base + path, params=params)
    assert reply.status_code == status, reply.text
    assert message in reply.text


@pytest.mark.parametrize(
    "data,files,status,message",
    [
        (
            {"k": 3},
            {"file": ("notes.txt", b"not an image", "text/plain")},
            400,
            "notes.txt: not a readable image",
        ),
        (
            {"k": 0},
            {"file": ("red.png", png_bytes(), "image/png")},
            422,
            "greater than or equal to 1",
        ),
        ({"version": 5}, {"file": ("red.png", png_bytes(), "image/png")}, 404, "no version 5"),
        ({"k": 3}, {}, 422, "Field required"),
    ],
)
def test_bad_uploads_get_a_4xx_with_a_message(base, data, files, status, message):
    reply = requests.post(f"{base}/api/search/image", data=data, files=files or None)
    assert reply.status_code == status, reply.text
    assert message in reply.text


@pytest.mark.parametrize(
    "path",
    [
        "/images/2/../../../../etc/passwd",
        "/images/2/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/images/2/span-1/..%2f..%2f..%2fmetadata.sqlite",
        "/images/2//etc/passwd",
        "/images/2/span-1/annotations/captions_train2017.json",
        "/images/7/span-1/train2017/000000000001.jpg",
        "/reports/..%2fmetadata.sqlite.html",
        "/reports/..%2f..%2fmetadata.sqlite%00.html",
        "/reports/nonexistent.html",
    ],
)
def test_only_indexed_images_and_known_runs_are_served(base, path):
    reply = requests.get(base + path)
    assert reply.status_code in (404, 422), (path, reply.status_code)
    assert b"SQLite" not in reply.content and b"root:" not in reply.content


def test_the_server_binds_loopback_only_and_never_loads_tensorflow(server):
    base, process = server
    port = int(base.rsplit(":", 1)[1])
    with open("/proc/net/tcp") as f:
        listening = [
            line.split()
            for line in f.readlines()[1:]
            if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port
        ]
    assert [row[1].split(":")[0] for row in listening] == ["0100007F"]  # 127.0.0.1
    with open(f"/proc/{process.pid}/maps") as f:
        libraries = f.read()
    assert "tflite" in libraries.lower() or "pywrap" in libraries
    assert (
        "libtensorflow_framework" not in libraries
        and "_pywrap_tensorflow_internal" not in libraries
    )


# ---------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def page(server):
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: make setup installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def loaded_images(page) -> int:
    return page.eval_on_selector_all(
        ".tile img", "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length"
    )


def test_browser_query_shows_k_thumbnails_with_captions(page, base):
    page.goto(base + "/")
    page.fill("input[name=q]", "a red circle")
    page.fill("input[name=k]", "6")
    page.click("form.query button")
    page.wait_for_selector(".tile")
    assert page.locator(".tile").count() == 6
    page.wait_for_function(
        "document.querySelectorAll('.tile img').length === 6 && "
        "[...document.querySelectorAll('.tile img')].every(i => i.complete)"
    )
    assert loaded_images(page) == 6
    for tile in page.locator(".tile").all():
        assert tile.locator("ul.captions li").count() >= 1
    assert "version v2" in page.inner_text("#summary") and " ms" in page.inner_text("#summary")


def test_browser_switches_version(page, base):
    page.goto(base + "/?q=blue+square&k=4")
    page.select_option("select[name=version]", "1")
    page.click("form.query button")
    page.wait_for_selector("#summary")
    assert "version v1" in page.inner_text("#summary")
    assert page.locator(".tile").count() == 4


def test_browser_warns_about_unknown_words(page, base):
    page.goto(base + "/?q=zebra+xylophone+circle")
    assert "unknown to the model's tokenizer" in page.inner_text(".warning")


def test_browser_uploads_an_image_and_follows_more_like_this(page, base, tmp_path):
    picture = tmp_path / "query.png"
    picture.write_bytes(png_bytes(colour=(20, 40, 220)))
    page.goto(base + "/?k=5")
    page.set_input_files("input[type=file]", str(picture))
    page.click("form.upload button")
    page.wait_for_selector(".tile")
    assert "images like query.png" in page.inner_text("#summary")
    assert page.locator(".tile").count() == 5
    first_file = page.locator(".tile .muted").first.inner_text().split(" · ")[1]
    page.locator(".tile a", has_text="more like this").first.click()
    page.wait_for_selector("#summary")
    assert f"images like {first_file}" in page.inner_text("#summary")


def test_browser_opens_a_run_its_report_and_a_lineage_graph(page, base):
    page.goto(base + "/runs")
    rows = page.locator("#runs tr")
    assert rows.count() == 5  # the header and 4 runs
    page.locator("#runs a", has_text="report").first.click()
    page.wait_for_selector("h1")
    assert page.inner_text("h1").startswith("t2i-searcher run")
    assert "pushed version" in page.inner_text("table.summary")
    page.locator("p.nav a").first.click()  # the report's link to the previous run's report
    page.wait_for_selector("table.summary")
    assert page.url.endswith(".html") and page.inner_text("h1").startswith("t2i-searcher run")
    page.goto(base + "/runs")
    page.locator("#runs a", has_text="lineage").last.click()  # the first run's
    page.wait_for_selector("#graph svg")
    assert page.locator("#graph svg g.node").count() >= 10
    node = page.locator("#graph svg g.node a").first
    node.click()
    assert page.locator(".props details[open]").count() == 1
    page.goto(base + "/runs")
    page.click("form[action='/diff'] button")
    assert "v1 → v2" in page.inner_text("h1")
