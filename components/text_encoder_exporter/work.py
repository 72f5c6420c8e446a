"""The TextEncoderExporter's work (TensorFlow process): towers -> .tflite, checked.

`export_encoders(serving_dir, output_dir, options)` converts the text and image towers,
has a TF-free subprocess attach Task Library metadata and embed check inputs through the
Task Library, and fails unless those embeddings match the SavedModel's own (cosine >=
min_cosine). The text check runs about 100 of the model's eval captions (the Trainer's
eval_captions.txt) plus tricky strings through the SavedModel's string signature, so it
also proves that the device tokenizer and the training tokenizer agree.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict

import numpy as np

from components.common import captions, code_version, formats, text_model, tf_free
from components.text_encoder_exporter import convert
from components.text_encoder_exporter.options import ExporterOptions

DEVICE_MODULE = "components.text_encoder_exporter.device_export"
NUM_CHECK_CAPTIONS = 100
NUM_CHECK_IMAGES = 8
# Inputs where a device tokenizer could drift from training: case, punctuation, unicode
# letters and marks, apostrophes, underscores, digits, unknown words, whitespace kinds,
# nothing at all, and more words than the model's input length.
TRICKY_TEXTS = (
    "",
    "   ",
    "a dog",
    "A DOG",
    "Dog!!",
    "dog's ball",
    "don't stop",
    "x_y z_",
    "123 456",
    "red,blue;green.yellow",
    "tab\tand\nnewline",
    "café crème",
    "CAFÉ",
    "naïve résumé",
    "東京の犬",
    "emoji 🐶 dog",
    "zebra xylophone qwertyuiop",
    "a " * 80,
    "A red circle on the left and a blue square at the top, next to two small stars " * 3,
)


def required_cosine(options: ExporterOptions) -> float:
    """The agreement the text check demands: quantized weights may move embeddings a little.
    The image tower is never quantized, so it is held to min_cosine_float."""
    return options.min_cosine_quantized if options.quantize else options.min_cosine_float


class ExportCheckError(RuntimeError):
    """The exported TFLite model does not reproduce the SavedModel's embeddings."""


def read_model_config(serving_dir: str) -> dict:
    path = os.path.join(serving_dir, formats.MODEL_CONFIG)
    if not os.path.isfile(path):
        raise convert.ExportError(f"{path}: missing; the Model artifact has no model config")
    with open(path) as f:
        config = json.load(f)
    style = config.get("text_input_style")
    if style == formats.TEXT_STYLE_STRINGS:
        raise convert.ExportError(
            f"{path}: text_input_style is 'strings' (a raw-string text tower, e.g. a TF Hub "
            "encoder). The Task Library's TextSearcher needs a tokenized int32 input "
            "described in metadata (regex, BERT WordPiece or SentencePiece tokenizer); a "
            "raw-string tower has no verified TFLite path (Universal Sentence Encoder needs "
            "SentencePiece/Flex ops that fail in TextEmbedder; docs/STACK.md §7). Train "
            "with a tokenized text tower instead: trainer.text_tower=minilm_l6, "
            "use_multilingual or small_text."
        )
    if style not in (formats.TEXT_STYLE_REGEX_IDS, formats.TEXT_STYLE_BERT_IDS):
        raise convert.ExportError(f"{path}: unknown text_input_style {style!r}")
    style_keys = ("delimiter_regex",) if style == formats.TEXT_STYLE_REGEX_IDS else ("tokenizer",)
    missing = [
        k
        for k in (
            "embedding_dim",
            "image_size",
            "image_norm_mean",
            "image_norm_std",
            "max_tokens",
            *style_keys,
        )
        if k not in config
    ]
    if missing:
        raise convert.ExportError(f"{path}: missing keys {missing}")
    return config


def model_fingerprint(serving_dir: str) -> str:
    """Short content hash of the text SavedModel and vocabulary: the metadata version."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(
        os.path.join(serving_dir, formats.MODEL_TEXT_ENCODER)
    ):
        dirnames.sort()
        for name in sorted(filenames):
            with open(os.path.join(dirpath, name), "rb") as f:
                digest.update(name.encode() + f.read())
    for name in (formats.MODEL_VOCAB, formats.MODEL_CONFIG):
        path = os.path.join(serving_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                digest.update(f.read())
    tokenizer_dir = os.path.join(serving_dir, formats.MODEL_TOKENIZER_DIR)
    for name in sorted(os.listdir(tokenizer_dir)) if os.path.isdir(tokenizer_dir) else []:
        with open(os.path.join(tokenizer_dir, name), "rb") as f:
            digest.update(name.encode() + f.read())
    return digest.hexdigest()[:12]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    # Two (near-)zero vectors agree; one zero vector against a real one does not.
    same = np.all(np.abs(a - b) < 1e-6, axis=1)
    return np.where(norms > 1e-12, dots / np.maximum(norms, 1e-12), np.where(same, 1.0, 0.0))


def _general_metadata(options: ExporterOptions, config: dict, version: str) -> tuple[dict, dict]:
    dim = config["embedding_dim"]
    text = {
        "name": options.model_name,
        "version": version,
        "author": options.author,
        "description": (
            f"Text tower of a text-to-image dual encoder: a query -> a {dim}-d "
            "L2-normalized embedding; dot product with image embeddings ranks "
            f"images. {_tokenizer_name(config)}, {config['max_tokens']} tokens "
            f"({config.get('text_tower', '?')})."
        ),
    }
    image = {
        "name": f"{options.model_name} (image tower)",
        "version": version,
        "author": options.author,
        "description": (
            f"Image tower of the same dual encoder: an RGB image resized to "
            f"{config['image_size']}x{config['image_size']} -> a {dim}-d "
            f"L2-normalized embedding ({config.get('image_tower', '?')})."
        ),
    }
    return text, image


def _tokenizer_name(config: dict) -> str:
    if config["text_input_style"] == formats.TEXT_STYLE_BERT_IDS:
        return f"BERT layout, {config['tokenizer']['kind']} tokenizer"
    return "Regex tokenizer"


def check_pixels(image_size: int, count: int = NUM_CHECK_IMAGES, seed: int = 0) -> np.ndarray:
    """Images at the model's input size (so the Task Library does not resize them):
    smooth gradients plus noise, uint8 RGB."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, image_size, dtype=np.float32)
    base = (ramp[None, :, None] + ramp[:, None, None]) / 2
    images = base[None] * rng.uniform(0.2, 1.0, (count, 1, 1, 3)) + rng.normal(
        0, 30, (count, image_size, image_size, 3)
    )
    return np.clip(images, 0, 255).astype(np.uint8)


def export_encoders(serving_dir: str, output_dir: str, options: ExporterOptions) -> dict:
    """Writes text_encoder.tflite, image_encoder.tflite and export_summary.json."""
    start = time.time()
    config = read_model_config(serving_dir)
    texts = captions.read_eval_captions(serving_dir)[:NUM_CHECK_CAPTIONS]
    num_captions = len(texts)
    texts = texts + list(TRICKY_TEXTS)
    text_dir = os.path.join(serving_dir, formats.MODEL_TEXT_ENCODER)
    image_dir = os.path.join(serving_dir, formats.MODEL_IMAGE_ENCODER)
    pixels = check_pixels(config["image_size"])
    os.makedirs(output_dir, exist_ok=True)
    text_out = os.path.join(output_dir, formats.TEXT_ENCODER_TFLITE)
    image_out = os.path.join(output_dir, formats.IMAGE_ENCODER_TFLITE)
    version = f"{code_version.project_version()} model {model_fingerprint(serving_dir)}"
    text_general, image_general = _general_metadata(options, config, version)

    with tempfile.TemporaryDirectory(prefix="t2i-export-") as tmp:
        files = {
            name: os.path.join(tmp, name)
            for name in (
                "text.tflite",
                "image.tflite",
                "pixels.npy",
                "text_emb.npy",
                "image_emb.npy",
            )
        }
        bert = config["text_input_style"] == formats.TEXT_STYLE_BERT_IDS
        convert_text = convert.convert_bert_text_encoder if bert else convert.convert_text_encoder
        with open(files["text.tflite"], "wb") as f:
            f.write(convert_text(text_dir, config["max_tokens"], options.quantize))
        with open(files["image.tflite"], "wb") as f:
            # Float: dynamic-range int8 moved EfficientNet-Lite0's embeddings to cosine
            # 0.986 (bench/towers_bench.py), and the image tower is not in searcher.tflite.
            f.write(convert.convert_image_encoder(image_dir, config["image_size"], False))
        np.save(files["pixels.npy"], pixels)
        reply = tf_free.run_module(
            DEVICE_MODULE,
            {
                **_tokenizer_request(serving_dir, config, tmp),
                "text_raw": files["text.tflite"],
                "image_raw": files["image.tflite"],
                "text_general": text_general,
                "image_general": image_general,
                "norm_mean": float(config["image_norm_mean"]),
                "norm_std": float(config["image_norm_std"]),
                "text_out": text_out,
                "image_out": image_out,
                "texts": texts,
                "pixels": files["pixels.npy"],
                "text_embeddings_out": files["text_emb.npy"],
                "image_embeddings_out": files["image_emb.npy"],
            },
        )
        device_text = np.load(files["text_emb.npy"])
        device_image = np.load(files["image_emb.npy"])

    text_cos = cosines(device_text, text_model.text_embedder(serving_dir)(texts))
    image_cos = cosines(device_image, convert.embed_pixels(image_dir, pixels.astype(np.float32)))
    summary = {
        "format_version": formats.FORMAT_VERSION,
        "options": asdict(options),
        "version": version,
        "embedding_dim": config["embedding_dim"],
        "max_tokens": config["max_tokens"],
        "text_input_style": config["text_input_style"],
        "tokenizer": (config["tokenizer"]["kind"] if config.get("tokenizer") else "regex"),
        "image_size": config["image_size"],
        "text_encoder_bytes": reply["text_bytes"],
        "image_encoder_bytes": reply["image_bytes"],
        "check": {
            "min_cosine_required": required_cosine(options),
            "image_min_cosine_required": options.min_cosine_float,
            "eval_captions": num_captions,
            "tricky_texts": len(TRICKY_TEXTS),
            "text_min_cosine": float(text_cos.min()),
            "text_mean_cosine": float(text_cos.mean()),
            "image_images": int(len(pixels)),
            "image_min_cosine": float(image_cos.min()),
        },
        "export_seconds": round(time.time() - start, 2),
    }
    with open(os.path.join(output_dir, formats.EXPORT_SUMMARY), "w") as f:
        json.dump(summary, f, indent=2)
    _raise_on_mismatch(
        texts, text_cos, image_cos, required_cosine(options), options.min_cosine_float, output_dir
    )
    return summary


def _tokenizer_request(serving_dir: str, config: dict, tmp: str) -> dict:
    """The tokenizer part of the device request. The packed associated file takes the
    file's base name, so the file is copied under the name it should have on device."""
    if config["text_input_style"] == formats.TEXT_STYLE_BERT_IDS:
        source = os.path.join(serving_dir, config["tokenizer"]["file"])
        if not os.path.isfile(source):
            raise convert.ExportError(
                f"{source}: the tokenizer file model_config.json names is missing"
            )
        target = os.path.join(tmp, os.path.basename(source))
        shutil.copyfile(source, target)
        return {"tokenizer_kind": config["tokenizer"]["kind"], "tokenizer_file": target}
    # The model's vocab.txt is what the Task Library tokenizes with; copy it under its
    # canonical name so the packed associated file is called vocab.txt.
    vocab = os.path.join(tmp, formats.MODEL_VOCAB)
    shutil.copyfile(os.path.join(serving_dir, formats.MODEL_VOCAB), vocab)
    return {"vocab": vocab, "delimiter": config["delimiter_regex"]}


def _raise_on_mismatch(
    texts: list[str],
    text_cos: np.ndarray,
    image_cos: np.ndarray,
    min_cosine: float,
    image_min_cosine: float,
    output_dir: str,
) -> None:
    problems = []
    bad = np.flatnonzero(text_cos < min_cosine)
    if len(bad):
        worst = bad[np.argsort(text_cos[bad])][:5]
        shown = "; ".join(f"{texts[i][:60]!r}: {text_cos[i]:.5f}" for i in worst)
        problems.append(
            f"{len(bad)}/{len(texts)} texts embed differently on device "
            f"(cosine < {min_cosine}); worst: {shown}"
        )
    if np.any(image_cos < image_min_cosine):
        problems.append(f"image tower: min cosine {image_cos.min():.5f} < {image_min_cosine}")
    if problems:
        raise ExportCheckError(
            f"{output_dir}: the TFLite export does not match the SavedModel: "
            + " | ".join(problems)
        )
