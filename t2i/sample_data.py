"""A synthetic captioned collection in exact COCO captions format, learnable from pixels.

Scenes of coloured shapes on plain backgrounds; the captions (5 per image, paraphrased
templates) name what is drawn: shapes, colours, sizes, counts, positions, relations and
the background. Deterministic for a seed. It exists so the demo, the tests and the
benchmarks run offline. Layout is COCO 2017 as distributed:

    <out>/annotations/captions_train2017.json   <out>/train2017/000000000001.jpg
    <out>/annotations/captions_val2017.json     <out>/val2017/...

or, with spans, the same inside <out>/span-1/, <out>/span-2/, ... (image ids never repeat).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

COLORS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 70, 220),
    "yellow": (240, 220, 20),
    "purple": (140, 40, 180),
    "orange": (250, 140, 0),
    "white": (250, 250, 250),
    "black": (15, 15, 15),
}
BACKGROUNDS = {
    "beige": (225, 210, 170),
    "gray": (128, 128, 128),
    "pink": (250, 180, 200),
    "navy": (20, 30, 90),
    "olive": (110, 120, 40),
    "brown": (110, 70, 40),
    "teal": (30, 130, 130),
    "lavender": (200, 190, 240),
}
SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
NUMBERS = {2: "two", 3: "three"}
SIZES = {"small": (9, 13), "large": (20, 26)}
POSITIONS = {  # name -> centre as a fraction of the image
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.25),
    "bottom": (0.5, 0.75),
    "center": (0.5, 0.5),
}
POSITION_PHRASES = {
    "left": ("on the left", "at the left side", "to the left"),
    "right": ("on the right", "at the right side", "to the right"),
    "top": ("at the top", "near the top", "in the upper part"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part"),
    "center": ("in the center", "in the middle", "at the centre"),
}
RELATIONS = {"left": "left of", "top": "above"}
SPLITS = (("train2017", 0.8), ("val2017", 0.2))
CAPTIONS_PER_IMAGE = 5


@dataclass
class Item:
    shape: str
    color: str
    size: str


def _plural(shape: str) -> str:
    return shape + ("es" if shape.endswith("s") else "s")


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    cx: float,
    cy: float,
    r: float,
    fill: tuple[int, int, int],
) -> None:
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=fill)
    elif shape == "cross":
        w = r / 3
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=fill)
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=fill)
    elif shape == "star":
        import math

        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + k * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        draw.polygon(points, fill=fill)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _random_item(rng: random.Random, background: str) -> Item:
    color = rng.choice([c for c in COLORS if not (c == "black" and background == "navy")])
    return Item(rng.choice(SHAPES), color, rng.choice(tuple(SIZES)))


def _single_scene(rng: random.Random, background: str, size_px: int):
    item = _random_item(rng, background)
    position = rng.choice(tuple(POSITIONS))
    fx, fy = POSITIONS[position]
    lo, hi = SIZES[item.size]
    shapes = [
        (
            item,
            fx * size_px + rng.uniform(-4, 4),
            fy * size_px + rng.uniform(-4, 4),
            rng.uniform(lo, hi) * size_px / 128,
        )
    ]
    noun = f"{item.size} {item.color} {item.shape}"
    where = rng.choice(POSITION_PHRASES[position])
    captions = [
        f"{_article(item.size)} {noun} on {_article(background)} {background} background",
        f"{_article(item.size)} {noun} {where}",
        f"A {item.color} {item.shape} {where} of {_article(background)} {background} picture",
        f"there is one {item.size} {item.shape} colored {item.color} against {background}",
        f"{background} background with {_article(item.color)} {item.color} {item.shape} {where}",
        f"{_article(item.size)} {item.shape} in {item.color} , {where} , on {background}",
        f"An image of a single {item.color} {item.shape} , {item.size} , on {background}",
    ]
    return shapes, captions


def _count_scene(rng: random.Random, background: str, size_px: int):
    item = _random_item(rng, background)
    count = rng.choice(tuple(NUMBERS))
    word = NUMBERS[count]
    lo, hi = SIZES[item.size]
    slots = rng.sample([(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75), (0.5, 0.5)], count)
    shapes = [
        (item, fx * size_px, fy * size_px, rng.uniform(lo, hi) * 0.8 * size_px / 128)
        for fx, fy in slots
    ]
    many = _plural(item.shape)
    captions = [
        f"{word} {item.color} {many} on {_article(background)} {background} background",
        f"{word} {item.size} {item.color} {many}",
        f"There are {word} {many} , all {item.color} , on {background}",
        f"{background} background with {word} {item.size} {item.color} {many}",
        f"a group of {word} {item.color} {many} against {background}",
        f"{word} {item.color} {item.shape} shapes on a {background} backdrop",
    ]
    return shapes, captions


def _pair_scene(rng: random.Random, background: str, size_px: int):
    first = _random_item(rng, background)
    second = _random_item(rng, background)
    while (second.shape, second.color) == (first.shape, first.color):
        second = _random_item(rng, background)
    axis = rng.choice(tuple(RELATIONS))
    relation = RELATIONS[axis]
    if axis == "left":
        centres = ((0.27, 0.5), (0.73, 0.5))
        inverse = "right of"
    else:
        centres = ((0.5, 0.27), (0.5, 0.73))
        inverse = "below"
    shapes = []
    for item, (fx, fy) in zip((first, second), centres):
        lo, hi = SIZES[item.size]
        shapes.append(
            (
                item,
                fx * size_px + rng.uniform(-3, 3),
                fy * size_px + rng.uniform(-3, 3),
                rng.uniform(lo, hi) * 0.9 * size_px / 128,
            )
        )
    a = f"{first.color} {first.shape}"
    b = f"{second.color} {second.shape}"
    captions = [
        f"{_article(first.color)} {a} {relation} {_article(second.color)} {b}",
        f"{_article(second.color)} {b} {inverse} {_article(first.color)} {a}",
        f"A {first.size} {a} and a {second.size} {b} on {background}",
        f"{_article(first.color)} {a} {relation} {_article(second.color)} {b} on {_article(background)} {background} background",
        f"two shapes : {_article(first.color)} {a} and {_article(second.color)} {b}",
        f"{background} picture with {_article(first.color)} {a} {relation} {_article(second.color)} {b}",
    ]
    return shapes, captions


SCENES = (_single_scene, _count_scene, _pair_scene)


def render_image(rng: random.Random, size_px: int) -> tuple[Image.Image, list[str]]:
    background = rng.choice(tuple(BACKGROUNDS))
    shapes, captions = rng.choice(SCENES)(rng, background, size_px)
    image = Image.new("RGB", (size_px, size_px), BACKGROUNDS[background])
    draw = ImageDraw.Draw(image)
    # Mild texture so backgrounds are not perfectly flat.
    for _ in range(6):
        x, y = rng.uniform(0, size_px), rng.uniform(0, size_px)
        shade = tuple(max(0, min(255, c + rng.randint(-12, 12))) for c in BACKGROUNDS[background])
        draw.ellipse([x - 12, y - 12, x + 12, y + 12], fill=shade)
    for item, cx, cy, r in shapes:
        _draw_shape(draw, item.shape, cx, cy, r, COLORS[item.color])
    rng.shuffle(captions)
    return image, captions[:CAPTIONS_PER_IMAGE]


def _split_for(image_id: int, seed: int) -> str:
    draw = random.Random(f"{seed}:{image_id}").random()
    return SPLITS[0][0] if draw < SPLITS[0][1] else SPLITS[1][0]


def _fake_urls(rng: random.Random, split: str, file_name: str) -> tuple[str, str]:
    flickr_id = rng.randint(10**9, 10**10 - 1)
    flickr = (
        f"http://farm{rng.randint(1, 9)}.staticflickr.com/{rng.randint(1000, 9999)}/"
        f"{flickr_id}_{rng.getrandbits(40):010x}_z.jpg"
    )
    return f"http://images.cocodataset.org/{split}/{file_name}", flickr


PHOTO_SIZE = (640, 480)  # COCO's typical photo
PHOTO_QUALITY = 92


class PhotoTexture:
    """Makes a rendered scene photo-like in size and bytes: 640x480, uneven lighting and
    sensor-like grain, so a JPEG weighs 100-200 KB as a COCO photo does (a flat synthetic
    drawing compresses to a few KB, which would understate ingestion and decoding).
    The grain fields are drawn once and shifted per image: random per image, cheap."""

    def __init__(self, seed: int, grain: float = 18.0, fields: int = 4):
        import numpy as np

        rng = np.random.default_rng(seed)
        width, height = PHOTO_SIZE
        coarse = (
            rng.normal(0, grain, (fields, height // 2, width // 2, 3)).repeat(2, 1).repeat(2, 2)
        )
        fine = rng.normal(0, grain / 2, (fields, height, width, 3))
        self.grain = (coarse + fine).astype(np.float32)
        y, x = np.mgrid[0:height, 0:width] / height
        self.light = [
            (1.0 + 0.25 * np.sin(x * a + b) * np.cos(y * c))[..., None].astype(np.float32)
            for a, b, c in rng.uniform((1, 0, 1), (4, 6, 4), size=(fields, 3))
        ]

    def apply(self, rng: random.Random, square: Image.Image) -> Image.Image:
        import numpy as np

        width, height = PHOTO_SIZE
        canvas = Image.new("RGB", PHOTO_SIZE, square.getpixel((2, 2)))
        canvas.paste(square.resize((height, height)), ((width - height) // 2, 0))
        grain = np.roll(
            self.grain[rng.randrange(len(self.grain))],
            (rng.randrange(height), rng.randrange(width)),
            axis=(0, 1),
        )
        pixels = np.asarray(canvas, np.float32) * self.light[rng.randrange(len(self.light))] + grain
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_collection(
    root: str, image_ids: range, seed: int, size_px: int, photos: bool = False
) -> dict[str, int]:
    """Writes one COCO-layout collection for `image_ids`; returns images per split.
    `photos`: 640x480 photo-like JPEGs of 100-200 KB (PhotoTexture) instead of
    `size_px` squares."""
    documents: dict[str, dict[str, Any]] = {}
    for split, _ in SPLITS:
        os.makedirs(os.path.join(root, split), exist_ok=True)
        documents[split] = {
            "info": {
                "description": "t2i-searcher synthetic shapes",
                "version": "1.0",
                "year": 2026,
                "contributor": "t2i-searcher",
                "date_created": "2026-01-01",
            },
            "licenses": [
                {
                    "id": 1,
                    "name": "CC0 1.0",
                    "url": "https://creativecommons.org/publicdomain/zero/1.0/",
                }
            ],
            "images": [],
            "annotations": [],
        }
    caption_id = image_ids.start * 10
    texture = PhotoTexture(seed) if photos else None
    for image_id in image_ids:
        rng = random.Random(f"{seed}/{image_id}")
        image, captions = render_image(rng, size_px)
        if texture is not None:
            image = texture.apply(rng, image)
        split = _split_for(image_id, seed)
        file_name = f"{image_id:012d}.jpg"
        image.save(os.path.join(root, split, file_name), quality=PHOTO_QUALITY if photos else 92)
        coco_url, flickr_url = _fake_urls(rng, split, file_name)
        doc = documents[split]
        doc["images"].append(
            {
                "license": 1,
                "file_name": file_name,
                "coco_url": coco_url,
                "height": image.height,
                "width": image.width,
                "date_captured": "2026-01-01 00:00:00",
                "flickr_url": flickr_url,
                "id": image_id,
            }
        )
        for caption in captions:
            caption_id += 1
            doc["annotations"].append({"image_id": image_id, "id": caption_id, "caption": caption})
    os.makedirs(os.path.join(root, "annotations"), exist_ok=True)
    for split, doc in documents.items():
        with open(os.path.join(root, "annotations", f"captions_{split}.json"), "w") as f:
            json.dump(doc, f)
    return {split: len(doc["images"]) for split, doc in documents.items()}


def generate(
    out_dir: str,
    num_images: int = 2000,
    seed: int = 0,
    spans: int = 0,
    image_size: int = 128,
    photos: bool = False,
) -> dict:
    """Writes the collection (spans=0: one collection; spans=K: span-1..span-K folders
    of near-equal size). Returns a summary with counts and the wall time."""
    if num_images < 1:
        raise ValueError("num_images must be at least 1")
    if spans > num_images:
        raise ValueError(f"{spans} spans need at least as many images, got {num_images}")
    _refuse_existing_collection(out_dir)
    started = time.perf_counter()
    summary: dict[str, Any] = {
        "out_dir": out_dir,
        "images": num_images,
        "seed": seed,
        "spans": {},
        "captions": num_images * CAPTIONS_PER_IMAGE,
    }
    if spans <= 0:
        summary["splits"] = write_collection(
            out_dir, range(1, num_images + 1), seed, image_size, photos
        )
    else:
        bounds = [round(num_images * k / spans) for k in range(spans + 1)]
        for span in range(1, spans + 1):
            ids = range(bounds[span - 1] + 1, bounds[span] + 1)
            span_dir = os.path.join(out_dir, f"span-{span}")
            summary["spans"][span] = write_collection(span_dir, ids, seed, image_size, photos)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return summary


def _refuse_existing_collection(out_dir: str) -> None:
    # Writing over another collection would leave its images behind, unlisted.
    if os.path.isdir(out_dir) and any(
        name == "annotations" or name.startswith("span-") for name in os.listdir(out_dir)
    ):
        raise ValueError(f"{out_dir} already holds a collection; use a new or empty folder")


def add_span(out_dir: str, num_images: int, seed: int = 0, image_size: int = 128) -> str:
    """Appends span-<last+1> with fresh image ids after the existing spans' ids. A
    collection without span folders cannot take one (its images would sit beside spans,
    which the layout refuses)."""
    if not os.path.isdir(out_dir):
        raise ValueError(
            f"{out_dir}: no such folder; make the first span with "
            "`t2i sample-data --out DIR --spans 1`"
        )
    if os.path.isdir(os.path.join(out_dir, "annotations")):
        raise ValueError(
            f"{out_dir} holds one collection, not span-<N>/ folders; "
            "--add-span needs a collection made with --spans"
        )
    existing = _span_numbers(out_dir)
    first_id = next_image_id(out_dir)
    span_dir = os.path.join(out_dir, f"span-{(existing[-1] if existing else 0) + 1}")
    write_collection(span_dir, range(first_id, first_id + num_images), seed, image_size)
    return span_dir


def _span_numbers(out_dir: str) -> list[int]:
    return sorted(
        int(d.split("-", 1)[1])
        for d in os.listdir(out_dir)
        if d.startswith("span-") and d.split("-", 1)[1].isdigit()
    )


def next_image_id(out_dir: str) -> int:
    """One more than the largest image id of any span under `out_dir` (1 when none)."""
    last_id = 0
    for span in _span_numbers(out_dir):
        for split, _ in SPLITS:
            path = os.path.join(out_dir, f"span-{span}", "annotations", f"captions_{split}.json")
            if os.path.exists(path):
                with open(path) as f:
                    ids = [image["id"] for image in json.load(f)["images"]]
                last_id = max([last_id, *ids])
    return last_id + 1
