"""From annotation files to work items: one per listed image, with its kept captions and split.

Runs in the launching process before Beam starts, so ambiguous annotations fail the run
at once, with the file and record named.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from components.coco_example_gen import annotations, storage
from components.coco_example_gen.layout import AnnotationSource
from components.coco_example_gen.options import SPLIT_COCO, split_problems
from components.common import formats


@dataclass
class Plan:
    items: list[dict]
    annotation_files: list[str]
    spans: list[int]
    captions_seen: int = 0
    caption_skips: list[annotations.CaptionSkip] = field(default_factory=list)

    @property
    def images_seen(self) -> int:
        return len(self.items)


def check_options(split_mode: str, eval_fraction: float, max_image_pixels: int) -> None:
    """The ingest's own guard (it runs without the app too): the rules options.py states."""
    problems = split_problems(split_mode, eval_fraction, max_image_pixels)
    if problems:
        raise ValueError("; ".join(problems))


def make_plan(sources: list[AnnotationSource], split_mode: str, eval_fraction: float) -> Plan:
    plan = Plan([], [s.name for s in sources], sorted({s.span for s in sources}))
    listed_in: dict[int, str] = {}
    for source in sources:
        parsed = annotations.parse(source.name, storage.read_bytes(source.path))
        plan.captions_seen += parsed.captions_seen
        plan.caption_skips.extend(parsed.skipped)
        coco_split = _coco_split(source) if split_mode == SPLIT_COCO else ""
        for image in parsed.images:
            if image.image_id in listed_in:
                raise annotations.AnnotationError(
                    f"image id {image.image_id} is listed in both {listed_in[image.image_id]} "
                    f"and {source.name}; refusing to guess which one is meant"
                )
            listed_in[image.image_id] = source.name
            captions = parsed.captions.get(image.image_id, [])
            split = ""
            if captions:
                split = coco_split or hash_split(image.image_id, eval_fraction)
            plan.items.append(_work_item(source, image, captions, split))
    if not plan.items:
        raise annotations.AnnotationError(
            f"the collection is empty: {', '.join(plan.annotation_files)} list no images"
        )
    return plan


def hash_split(image_id: int, eval_fraction: float) -> str:
    """Deterministic across runs, machines and Python versions (unlike hash())."""
    digest = hashlib.sha256(str(image_id).encode("ascii")).digest()
    position = int.from_bytes(digest[:8], "big") / 2.0**64
    return formats.SPLIT_EVAL if position < eval_fraction else formats.SPLIT_TRAIN


def _coco_split(source: AnnotationSource) -> str:
    if source.coco_split.startswith("train"):
        return formats.SPLIT_TRAIN
    if source.coco_split.startswith("val"):
        return formats.SPLIT_EVAL
    raise annotations.AnnotationError(
        f"{source.name}: split mode 'coco' needs COCO's annotations/captions_train*.json and "
        "captions_val*.json; use split mode 'hash' for other collections"
    )


def _work_item(
    source: AnnotationSource, image: annotations.ImageRecord, captions: list[str], split: str
) -> dict:
    return {
        "image_id": image.image_id,
        "file_name": image.file_name,
        "captions": captions,
        "coco_url": image.coco_url,
        "flickr_url": image.flickr_url,
        "span": source.span,
        "split": split,
        "annotations_file": source.name,
        "image_dir": source.image_dir,
        "image_dir_name": source.image_dir_name,
    }


def write_items(plan: Plan, path: str) -> None:
    storage.write_text(path, "".join(json.dumps(item) + "\n" for item in plan.items))
