"""Issue 15 case 1 (and the decompression bomb of case 4): `t2i search --image` at every
image size, and a native crash in a TF-free command reported in words.

The Task Library used to read freed memory (tflite-support's ImageData keeps a raw pointer
to a numpy buffer it does not own): a segfault at 512x512, 600x600, 640x480... and wrong
pixels at other sizes. A uniform-colour image embeds the same at every size once the pixels
are read correctly, so identical results across sizes are the check."""

import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from PIL import Image
from searcher_fixtures import REPO_ROOT, built_searcher

T2I = [os.path.join(os.path.dirname(sys.executable), "t2i")]
SIZES = [
    (1, 1),
    (1, 7),
    (7, 1),
    (3, 5),
    (512, 512),
    (530, 530),
    (560, 560),
    (600, 600),
    (640, 480),
    (480, 640),
    (1024, 200),
    (200, 1024),
    (5, 3000),
    (6000, 4000),
]


@pytest.fixture(scope="module")
def searcher_dir(tmp_path_factory):
    return built_searcher(tmp_path_factory.mktemp("faults-search"))["searcher"]


def _png_header_only(path, width: int, height: int) -> None:
    """A tiny PNG claiming width x height pixels: a decompression bomb for Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 64)
    with open(path, "wb") as f:
        f.write(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", body)
            + chunk(b"IEND", b"")
        )


def test_every_image_size_searches_and_reads_the_right_pixels(searcher_dir, tmp_path):
    paths = []
    for width, height in SIZES:
        path = tmp_path / f"gray_{width}x{height}.png"
        Image.new("RGB", (width, height), (200, 120, 40)).save(path)
        paths.append(str(path))
    code = textwrap.dedent(f"""
        import json
        from t2i import search
        out = []
        for path in {paths!r}:
            _, hits = search.search(search.SearchRequest(None, image=path, k=3,
                                                         searcher={searcher_dir!r}))
            out.append([(h.item.image_id, round(h.similarity, 4)) for h in hits])
        print(json.dumps(out))
    """)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(results) == len(SIZES) and all(len(hits) == 3 for hits in results)
    ids = [[image_id for image_id, _ in hits] for hits in results]
    assert all(found == ids[0] for found in ids), dict(zip(map(str, SIZES), ids))
    sims = np.array([[sim for _, sim in hits] for hits in results])
    assert np.allclose(sims, sims[0], atol=0.02), sims


def test_the_cli_searches_a_photo_sized_image_and_refuses_a_decompression_bomb(
    searcher_dir, tmp_path
):
    photo = tmp_path / "photo.jpg"
    pixels = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)
    result = subprocess.run(
        [*T2I, "search", "--image", str(photo), "--searcher", searcher_dir, "-k", "2"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert len([line for line in result.stdout.splitlines()[1:] if line[:4].strip()]) == 2

    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 20000, 20000)
    result = subprocess.run(
        [*T2I, "search", "--image", str(bomb), "--searcher", searcher_dir],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {bomb}: refused as a decompression bomb")
    assert "Traceback" not in result.stderr


def test_a_native_crash_in_a_guarded_command_says_what_was_being_done(tmp_path):
    """A real segfault (ctypes reads address 0) under the guard `t2i search` uses."""
    (tmp_path / "crashing_cli.py").write_text(
        textwrap.dedent("""
        import ctypes
        import click
        from t2i import native_guard

        @click.group()
        def main():
            pass

        @main.command()
        def search():
            native_guard.run_guarded("searching image_searcher.tflite with image x.jpg")
            ctypes.string_at(0)
    """)
    )
    script = tmp_path / "t2i"
    script.write_text("from crashing_cli import main\nmain()\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO_ROOT}"}
    result = subprocess.run(
        [sys.executable, str(script), "search"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 128 + 11
    first = result.stderr.splitlines()[0]
    assert first.startswith(
        "error: crashed with SIGSEGV in native code while searching "
        "image_searcher.tflite with image x.jpg"
    ), result.stderr
    crash_file = first.rsplit(" ", 1)[-1].rstrip(":")
    assert "crashing_cli.py" in open(crash_file).read() and "in search" in result.stderr
    os.unlink(crash_file)
