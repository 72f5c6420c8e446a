"""The ingest report: exact counts that reconcile, the skipped items by name, and the same
counts flattened into artifact custom properties (visible in ML Metadata)."""

from __future__ import annotations

import json

from components.coco_example_gen import annotations, beam_ingest, images, storage
from components.coco_example_gen.plan import Plan
from components.common import formats

# The JSON lists at most this many skipped images and captions; the counts stay exact.
MAX_LISTED = 1000


class ReconciliationError(RuntimeError):
    """Ingested + skipped != seen: an item went missing, which must never pass silently."""


def build(
    plan: Plan,
    counts: dict[str, int],
    skipped_images: list[dict],
    unlisted: dict,
    *,
    data_dir: str,
    span: int,
    split_mode: str,
    eval_fraction: float,
    max_image_pixels: int,
    seconds: float,
) -> dict:
    image_skips = {r: counts.get(beam_ingest.image_skipped_key(r), 0) for r in images.SKIP_REASONS}
    caption_skips = {r: 0 for r in annotations.SKIP_REASONS}
    for skip in plan.caption_skips:
        caption_skips[skip.reason] += 1
    caption_skips[annotations.IMAGE_SKIPPED] = counts.get(
        beam_ingest.caption_skipped_key(annotations.IMAGE_SKIPPED), 0
    )
    report = {
        "data_dir": data_dir,
        "annotation_files": plan.annotation_files,
        "span": span,
        "spans_ingested": plan.spans,
        "split_mode": split_mode,
        "eval_fraction": eval_fraction if split_mode == "hash" else None,
        "max_image_pixels": max_image_pixels,
        "images": {
            "seen": plan.images_seen,
            "ingested": counts.get(beam_ingest.IMAGES_INGESTED, 0),
            "index_only_no_captions": counts.get(beam_ingest.IMAGES_INDEX_ONLY, 0),
            "skipped": sum(image_skips.values()),
            "skipped_by_reason": image_skips,
            # Files in the image folders that no annotation lists (not part of "seen").
            "unlisted_files": unlisted["count"],
            "unlisted_first": unlisted["first"],
        },
        "captions": {
            "seen": plan.captions_seen,
            "kept": counts.get(beam_ingest.CAPTIONS_KEPT, 0),
            "skipped": sum(caption_skips.values()),
            "skipped_by_reason": caption_skips,
        },
        "splits": {s: counts.get(beam_ingest.split_count_key(s), 0) for s in formats.SPLITS},
        "listing_limit": MAX_LISTED,
        "skipped_images": sorted(skipped_images, key=lambda r: (r["file_name"], r["image_id"]))[
            :MAX_LISTED
        ],
        "skipped_captions": [vars(s) for s in plan.caption_skips[:MAX_LISTED]],
        "seconds": round(seconds, 2),
    }
    _check_reconciles(report)
    return report


def _check_reconciles(report: dict) -> None:
    for kind, done in (("images", "ingested"), ("captions", "kept")):
        section = report[kind]
        if section[done] + section["skipped"] != section["seen"]:
            raise ReconciliationError(
                f"{kind}: {section[done]} {done} + {section['skipped']} skipped != "
                f"{section['seen']} seen ({section['skipped_by_reason']})"
            )


def custom_properties(report: dict) -> dict[str, int | str]:
    """Flat names for ML Metadata: images_seen, images_skipped_missing, split_train_count..."""
    properties: dict[str, int | str] = {}
    for kind, done in (("images", "ingested"), ("captions", "kept")):
        section = report[kind]
        properties[f"{kind}_seen"] = section["seen"]
        properties[f"{kind}_{done}"] = section[done]
        properties[f"{kind}_skipped"] = section["skipped"]
        for reason, n in section["skipped_by_reason"].items():
            properties[f"{kind}_skipped_{reason}"] = n
    for split, n in report["splits"].items():
        properties[beam_ingest.split_count_key(split)] = n
    if report["images"]["unlisted_files"] is not None:
        properties["unlisted_files"] = report["images"]["unlisted_files"]
    properties[beam_ingest.IMAGES_INDEX_ONLY] = report["images"]["index_only_no_captions"]
    properties["spans_ingested"] = ",".join(str(s) for s in report["spans_ingested"])
    properties["split_mode"] = report["split_mode"]
    return properties


def write(report: dict, output_uri: str) -> str:
    path = storage.join(output_uri, formats.INGEST_REPORT)
    storage.write_text(path, json.dumps(report, indent=2, sort_keys=False) + "\n")
    return path
