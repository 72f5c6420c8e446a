"""Training with pretrained backbones (components/trainer/backbones): features once, heads
trained on them.

Each tower is a *side*: what the trainable part takes (its inputs) and how those inputs
are made from the data once, before training.
- A frozen backbone: its features, computed once per image and once per caption (and
  cached on disk when trainer.feature_cache_dir is set, keyed by backbone and data); the
  trainable part is the projection head. Epochs then cost a few matrix products, which is
  what makes thousands of images train in minutes on two CPU cores.
- A backbone being fine-tuned (trainer.freeze_backbone=false: all of it;
  trainer.fine_tune_blocks=N: its top N blocks, backbones/blocks.py), or a small tower
  (small_cnn / small_text): the raw inputs (pixels, token ids); the trainable part is the
  whole tower.
The exported SavedModels are whole towers (backbone + head), as the ImageEmbedder and the
TextEncoderExporter need them. BERT-layout text is tokenized with bert_tokenizer.py, the
device's rules, from the tokenizer file the model carries to the device.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

from components.common import bert_tokenizer, captions, examples_io, formats, tokenizer
from components.common import retrieval_metrics as metrics
from components.trainer import data, export, options as trainer_options, towers
from components.trainer.backbones import blocks
from components.trainer.model import DualEncoder

progress = logging.getLogger("t2i.progress")
FEATURE_BATCH = 32
_BERT_INPUTS = ("ids", "segment_ids", "mask")


@dataclass(frozen=True)
class BackboneLoaders:
    """How backbones are loaded: the catalogue's functions (components/trainer/backbones),
    or others with the same signatures (tests build tiny honest backbones this way)."""

    image: Callable  # (spec, image_size, weights) -> ImageBackbone
    text: Callable  # (spec, max_tokens) -> TextBackbone


def catalogue_loaders() -> BackboneLoaders:
    from components.trainer import backbones

    return BackboneLoaders(
        lambda *args: backbones.load_image_backbone(*args),
        lambda *args: backbones.load_text_backbone(*args),
    )


def uses_backbones(options) -> bool:
    """Whether either tower comes from the backbone catalogue (not small_cnn / small_text)."""
    return options.image_tower != towers.SMALL_CNN or options.text_tower != towers.SMALL_TEXT


@dataclass
class Side:
    """One tower: inputs of the trainable part, made once; the trainable part; the whole
    tower for export."""

    name: str
    train_inputs: np.ndarray
    eval_inputs: np.ndarray
    trainable: tf.keras.Model
    whole: Callable[[], tf.keras.Model]
    cache: str  # "hit", "miss", "off" or "n/a" (no backbone features)
    feature_seconds: float
    backbone_parameters: int = 0


@dataclass
class Split:
    """A split's ids and captions, and a digest of each encoded image. The encoded images
    themselves (about 160 KB a photo) are not kept: they are streamed from `files` when
    pixels or features are made, so the Trainer's memory does not grow with the bytes of
    the collection."""

    files: list[str]
    image_ids: list[int]
    image_digests: list[bytes]  # sha256 of each encoded image (the feature cache's key)
    captions: list[list[str]]

    def fingerprint(self, what: str) -> str:
        digest = hashlib.sha256(what.encode())
        for image_id, image_digest, texts in zip(self.image_ids, self.image_digests, self.captions):
            digest.update(str(image_id).encode())
            digest.update(image_digest if what == "images" else "\0".join(texts).encode() + b"\1")
        return digest.hexdigest()[:20]

    def pixel_batches(self, image_size: int, batch_size: int) -> tf.data.Dataset:
        """uint8 [<=batch_size, S, S, 3] batches in record order, decoded and resized as the
        image SavedModel does; decoding runs in parallel with whatever consumes them."""
        spec = {formats.FEATURE_IMAGE: tf.io.FixedLenFeature([], tf.string)}
        return (
            tf.data.TFRecordDataset(tf.constant(self.files, tf.string), compression_type="GZIP")
            .map(
                lambda record: data.decode_and_resize(
                    tf.io.parse_single_example(record, spec)[formats.FEATURE_IMAGE], image_size
                ),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .batch(batch_size)
            .prefetch(2)
        )


def read_split(files: list[str]) -> Split:
    """One checked pass over the files (examples_io names a bad record's file and number)."""
    split = Split(files, [], [], [])
    for record in examples_io.iter_records(files):
        split.image_ids.append(record.image_id)
        split.image_digests.append(hashlib.sha256(record.image).digest())
        split.captions.append(record.captions)
    return split


def decode_images(split: Split, image_size: int) -> np.ndarray:
    """uint8 [n, S, S, 3]: every image's pixels (for towers trained on pixels)."""
    batches = [batch.numpy() for batch in split.pixel_batches(image_size, 256)]
    if not batches:
        return np.zeros([0, image_size, image_size, 3], np.uint8)
    return np.concatenate(batches)


def inference(model: tf.keras.Model) -> Callable:
    """The model's inference call as a graph. Called eagerly, Keras runs every op on its
    own (each convolution, batch norm and activation a pass over the batch's activations);
    a graph lets Grappler fuse them (bench/trainer_features_bench.py measures the gain).

    One function per model for the process: a trace of a backbone costs seconds, and the
    Trainer calls it for each split. reduce_retracing: an input shape that differs from
    the traced ones (a last partial batch, captions cut to another length) gets a trace
    general in that dimension, so a model is traced at most once more per dimension that
    varies."""
    call = _INFERENCE.get(model)
    if call is None:
        # The function holds the model weakly: the cache must not keep models alive.
        held = weakref.ref(model)
        call = tf.function(
            lambda x: held()(x, training=False), autograph=False, reduce_retracing=True
        )
        _INFERENCE[model] = call
    return call


_INFERENCE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _batched(model: tf.keras.Model, inputs, convert) -> np.ndarray:
    """The model's outputs for `inputs`: an array (or tuple of arrays) cut into batches of
    FEATURE_BATCH, or a tf.data.Dataset of batches (streamed: never all in memory)."""
    call = inference(model)
    if isinstance(inputs, tf.data.Dataset):
        chunks = iter(inputs)
    else:
        rows = len(inputs[0]) if isinstance(inputs, tuple) else len(inputs)
        chunks = (
            tuple(x[start : start + FEATURE_BATCH] for x in inputs)
            if isinstance(inputs, tuple)
            else inputs[start : start + FEATURE_BATCH]
            for start in range(0, rows, FEATURE_BATCH)
        )
    out = [call(convert(chunk)).numpy().astype(np.float32) for chunk in chunks]
    return np.concatenate(out) if out else np.zeros([0, model.output_shape[-1]], np.float32)


class FeatureCache:
    """Backbone features on disk, one .npy per (backbone identity, data fingerprint)."""

    def __init__(self, directory: str):
        self.directory = directory

    def get_or_compute(
        self, identity: dict, fingerprint: str, compute: Callable[[], np.ndarray]
    ) -> tuple[np.ndarray, str]:
        if not self.directory:
            return compute(), "off"
        key = hashlib.sha256(
            json.dumps(identity, sort_keys=True).encode() + fingerprint.encode()
        ).hexdigest()[:24]
        path = os.path.join(self.directory, f"{identity['backbone']}-{key}.npy")
        if os.path.isfile(path):
            return np.load(path), "hit"
        features = compute()
        os.makedirs(self.directory, exist_ok=True)
        partial = f"{path}.{os.getpid()}.tmp.npy"
        np.save(partial, features)
        os.replace(partial, path)  # never a half-written cache entry
        return features, "miss"


def _file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _head(feature_dim: int, options, prefix: str, name: str) -> tf.keras.Model:
    features = tf.keras.Input((feature_dim,), dtype=tf.float32, name=f"{prefix}_features")
    embedding = towers.projection_head(features, options.embedding_dim, options.dropout, prefix)
    return tf.keras.Model(features, embedding, name=name)


def fine_tunes(options) -> bool:
    """Whether backbones train end to end (all of them, or their top fine_tune_blocks)."""
    return not options.freeze_backbone or options.fine_tune_blocks > 0


def _unfreeze(backbone, options) -> None:
    if options.fine_tune_blocks:
        blocks.unfreeze_top_blocks(backbone.model, options.fine_tune_blocks, backbone.name)
    else:
        backbone.model.trainable = True


# --- frozen backbones: features once, a head trained on them ----------------------------


@dataclass(frozen=True)
class BackboneInputs:
    """What a frozen backbone reads for one split: the data's fingerprint (the cache key)
    and how to make the inputs, called only when the cache misses (decoding 2,000 images or
    tokenizing 10,000 captions is wasted work on a hit)."""

    fingerprint: str
    make: Callable[[], object]


def _frozen_side(
    side: type[Side],
    backbone,
    identity: dict,
    cache: FeatureCache,
    train: BackboneInputs,
    evaluation: BackboneInputs,
    compute: Callable[[tf.keras.Model, object], np.ndarray],
    whole_inputs,
    options,
    prefix: str,
    started: float,
    **extra,
) -> Side:
    """One frozen tower, image or text: the backbone's features of both splits (cached),
    a projection head to train on them, and the whole tower (backbone + head) for export."""
    backbone.model.trainable = False

    def features(inputs: BackboneInputs) -> Callable[[], np.ndarray]:
        return lambda: compute(backbone.model, inputs.make())

    train_features, hit = cache.get_or_compute(identity, train.fingerprint, features(train))
    eval_features, _ = cache.get_or_compute(identity, evaluation.fingerprint, features(evaluation))
    head = _head(backbone.feature_dim, options, prefix, f"{prefix}_head")

    def whole() -> tf.keras.Model:
        return tf.keras.Model(
            whole_inputs,
            head(backbone.model(whole_inputs, training=False)),
            name=f"{prefix}_encoder",
        )

    return side(
        backbone.name,
        train_features,
        eval_features,
        head,
        whole,
        hit,
        time.perf_counter() - started,
        backbone.model.count_params(),
        **extra,
    )


# --- image --------------------------------------------------------------------------------


def _pixels_side(
    name: str,
    encoder: tf.keras.Model,
    train: Split,
    evaluation: Split,
    options: trainer_options.TrainerOptions,
    started: float,
    backbone_parameters: int = 0,
) -> Side:
    """An image side trained end to end: its inputs are decoded pixels, the trainable part
    is the whole tower (no backbone features to cache)."""
    return Side(
        name,
        decode_images(train, options.image_size),
        decode_images(evaluation, options.image_size),
        encoder,
        lambda: encoder,
        "n/a",
        time.perf_counter() - started,
        backbone_parameters,
    )


def image_features(model: tf.keras.Model, batches: tf.data.Dataset) -> np.ndarray:
    """A frozen image backbone's features of uint8 pixel batches, in order."""
    return _batched(model, batches, lambda x: tf.cast(x, tf.float32))


def image_side(
    options,
    train: Split,
    evaluation: Split,
    cache: FeatureCache,
    loaders: Callable[[], BackboneLoaders],
) -> Side:
    started = time.perf_counter()
    if options.image_tower == towers.SMALL_CNN:
        encoder = towers.build_image_encoder(options)
        return _pixels_side(towers.SMALL_CNN, encoder, train, evaluation, options, started)
    backbone = loaders().image(options.image_tower, options.image_size, options.image_weights)
    pixels = tf.keras.Input(
        (options.image_size, options.image_size, 3), dtype=tf.float32, name="pixels"
    )
    if fine_tunes(options):
        _unfreeze(backbone, options)
        head = _head(backbone.feature_dim, options, "image", "image_head")
        encoder = tf.keras.Model(pixels, head(backbone.model(pixels)), name="image_encoder")
        return _pixels_side(
            backbone.name,
            encoder,
            train,
            evaluation,
            options,
            started,
            backbone.model.count_params(),
        )
    identity = {
        "backbone": backbone.name,
        "image_size": options.image_size,
        "weights": options.image_weights,
        "feature_dim": backbone.feature_dim,
        "weights_digest": _weights_digest(backbone.model),
    }

    def split_inputs(split: Split) -> BackboneInputs:
        return BackboneInputs(
            split.fingerprint("images"),
            # Streamed batch by batch: the split's pixels are never all in memory.
            lambda: split.pixel_batches(options.image_size, FEATURE_BATCH),
        )

    return _frozen_side(
        Side,
        backbone,
        identity,
        cache,
        split_inputs(train),
        split_inputs(evaluation),
        image_features,
        pixels,
        options,
        "image",
        started,
    )


def _weights_digest(model: tf.keras.Model) -> str:
    """A cheap identity of the backbone's weights: shapes and a few values of each."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = weight.numpy().reshape(-1)
        digest.update(str(weight.shape).encode() + value[:16].tobytes() + value[-16:].tobytes())
    return digest.hexdigest()[:16]


# --- text ---------------------------------------------------------------------------------


@dataclass
class TextSide(Side):
    export: Callable[..., dict] | None = None  # writes the text half of the Model artifact


def _token_inputs(stacked: np.ndarray) -> list[tf.Tensor]:
    return [tf.constant(stacked[:, i]) for i in range(3)]


def caption_features(model: tf.keras.Model, stacked: np.ndarray) -> np.ndarray:
    """A frozen BERT-layout backbone's features of [n, 3, T] stacked token inputs, in order.

    A backbone whose inputs have length None (contract.TextBackbone) gets batches of
    captions of similar length, each cut to its longest mask: a caption's features do not
    depend on the padding after it, and captions average about a third of T, so full-width
    batches spent most of their time on padding."""
    if model.inputs[0].shape[1] is not None:
        return _batched(model, stacked, _token_inputs)
    call = inference(model)
    lengths = stacked[:, 2].sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    features = np.zeros([len(stacked), model.output_shape[-1]], np.float32)
    for start in range(0, len(order), FEATURE_BATCH):
        rows = order[start : start + FEATURE_BATCH]
        width = max(int(lengths[rows].max()), 1)
        features[rows] = call(_token_inputs(stacked[rows, :, :width])).numpy()
    return features


def _caption_rows(split: Split) -> tuple[list[str], np.ndarray, np.ndarray]:
    """All captions in order, and per image the first row and count of its captions."""
    texts, starts, counts = [], [], []
    for image_captions in split.captions:
        starts.append(len(texts))
        counts.append(len(image_captions))
        texts.extend(image_captions)
    return texts, np.asarray(starts, np.int64), np.asarray(counts, np.int64)


def text_side(
    options,
    train: Split,
    evaluation: Split,
    serving_dir: str,
    cache: FeatureCache,
    loaders: Callable[[], BackboneLoaders],
) -> TextSide:
    started = time.perf_counter()
    train_texts, _, _ = _caption_rows(train)
    eval_texts, _, _ = _caption_rows(evaluation)
    if options.text_tower == towers.SMALL_TEXT:
        vocab_path = os.path.join(serving_dir, formats.MODEL_VOCAB)
        tokenizer.write_vocab_file(
            vocab_path,
            tokenizer.build_vocab(train_texts, options.vocab_min_count, options.vocab_max_size),
        )
        table = tokenizer.read_vocab_file(vocab_path)
        vocab_size = max(table.values()) + 1

        def ids(texts):
            rows = [tokenizer.encode(t, table, options.max_tokens) for t in texts]
            return np.asarray(rows, np.int32).reshape([-1, options.max_tokens])

        encoder = towers.build_text_encoder(options, vocab_size)
        return TextSide(
            towers.SMALL_TEXT,
            ids(train_texts),
            ids(eval_texts),
            encoder,
            lambda: encoder,
            "n/a",
            time.perf_counter() - started,
        )

    backbone = loaders().text(options.text_tower, options.max_tokens)
    spec = backbone.tokenizer
    max_tokens = spec.max_tokens or options.max_tokens
    source = spec.files.get("vocab") or spec.files.get("sentencepiece_model")
    if spec.kind not in bert_tokenizer.KINDS or not source:
        raise towers.TowerError(
            f"trainer.text_tower={options.text_tower}: tokenizer {spec.kind!r} with files "
            f"{spec.files}; a BERT-layout text tower needs a WordPiece vocabulary or a "
            "SentencePiece model that the device's tokenizer metadata can carry"
        )
    # The model carries its tokenizer file: the exporter packs it into the device metadata.
    tokenizer_dir = os.path.join(serving_dir, formats.MODEL_TOKENIZER_DIR)
    os.makedirs(tokenizer_dir, exist_ok=True)
    local = os.path.join(tokenizer_dir, os.path.basename(source))
    shutil.copyfile(source, local)
    tokenize = bert_tokenizer.load(spec.kind, local)

    def stacked(texts) -> np.ndarray:
        """[n, 3, T]: ids, segment ids, mask (one array, so batching stays simple)."""
        encoded = bert_tokenizer.encode(tokenize, texts, max_tokens)
        return np.stack(encoded.as_tuple(), axis=1)

    inputs = [tf.keras.Input((max_tokens,), dtype=tf.int32, name=n) for n in _BERT_INPUTS]
    tokenizer_config = {
        "kind": spec.kind,
        "file": f"{formats.MODEL_TOKENIZER_DIR}/{os.path.basename(source)}",
    }

    def export_text(image_encoder, text_encoder) -> dict:
        return export.export_bert_model(
            serving_dir, image_encoder, text_encoder, options, max_tokens, tokenizer_config
        )

    def unstack(x):
        return [x[:, 0], x[:, 1], x[:, 2]]

    if fine_tunes(options):
        _unfreeze(backbone, options)
        head = _head(backbone.feature_dim, options, "text", "text_head")
        packed = tf.keras.Input((3, max_tokens), dtype=tf.int32, name="bert_inputs")
        trainable = tf.keras.Model(
            packed,
            head(backbone.model(tf.keras.layers.Lambda(unstack)(packed))),
            name="text_encoder_stacked",
        )
        whole_model = tf.keras.Model(inputs, head(backbone.model(inputs)), name="text_encoder")
        return TextSide(
            backbone.name,
            stacked(train_texts),
            stacked(eval_texts),
            trainable,
            lambda: whole_model,
            "n/a",
            time.perf_counter() - started,
            backbone.model.count_params(),
            export_text,
        )

    identity = {
        "backbone": backbone.name,
        "max_tokens": max_tokens,
        "kind": spec.kind,
        "tokenizer_digest": _file_digest(local),
        "weights_digest": _weights_digest(backbone.model),
    }

    def split_inputs(split: Split, texts: list[str]) -> BackboneInputs:
        return BackboneInputs(split.fingerprint("captions"), lambda: stacked(texts))

    return _frozen_side(
        TextSide,
        backbone,
        identity,
        cache,
        split_inputs(train, train_texts),
        split_inputs(evaluation, eval_texts),
        caption_features,
        inputs,
        options,
        "text",
        started,
        export=export_text,
    )


# --- training -----------------------------------------------------------------------------


def _epoch_dataset(
    image_inputs: np.ndarray,
    caption_inputs: np.ndarray,
    starts: np.ndarray,
    counts: np.ndarray,
    batch_size: int,
    rng: np.random.Generator,
):
    """One epoch: images in a fresh order, each with one of its captions drawn afresh;
    whole batches only (every step contrasts batch_size pairs)."""
    captioned = np.flatnonzero(counts > 0)
    order = rng.permutation(captioned)
    order = order[: len(order) // batch_size * batch_size]
    picks = starts[order] + rng.integers(0, counts[order])
    return (
        tf.data.Dataset.from_tensor_slices((image_inputs[order], caption_inputs[picks]))
        .batch(batch_size, drop_remainder=True)
        .prefetch(2)
    )


def _recall(image_encoder, text_encoder, eval_images, eval_captions, caption_owner) -> dict:
    images = _batched(image_encoder, eval_images, _as_model_input)
    texts = _batched(text_encoder, eval_captions, _as_model_input)
    summary = metrics.summarize(metrics.text_to_image_ranks(texts, images, caption_owner))
    return {k: round(v, 4) for k, v in summary.items() if k != "queries"}


def _as_model_input(chunk: np.ndarray):
    return tf.cast(chunk, tf.float32) if chunk.dtype == np.uint8 else tf.constant(chunk)


def train(
    train_patterns: list[str],
    eval_patterns: list[str],
    serving_dir: str,
    run_dir: str,
    options,
    extras: dict | None = None,
    loaders: BackboneLoaders | None = None,
):
    """Trains the dual encoder on backbone features (or raw inputs) and writes the Model
    artifact; returns train.Trained."""
    from components.trainer.work import Trained, TrainingError, _optimizer, write_training_summary

    started = time.perf_counter()
    extras = extras or {}
    trainer_options.validate(options)
    options = trainer_options.resolved(options)
    tf.keras.utils.set_random_seed(options.seed)
    rng = np.random.default_rng(options.seed)

    train_files = examples_io.expand_patterns(train_patterns, "training")
    eval_files = examples_io.expand_patterns(eval_patterns or [], "eval", required=False)
    train_split, eval_split = read_split(train_files), read_split(eval_files)
    num_train = sum(1 for c in train_split.captions if c)
    if num_train < 2:
        raise TrainingError(
            f"{num_train} captioned training image(s) in {train_files}; "
            "contrastive training needs at least 2"
        )
    os.makedirs(serving_dir, exist_ok=True)
    captions.write_eval_captions(
        serving_dir,
        captions.first_captions_first(eval_split.captions, captions.EVAL_CAPTIONS_LIMIT),
    )

    cache = FeatureCache(options.feature_cache_dir)
    get_loaders = (lambda: loaders) if loaders is not None else catalogue_loaders
    image = image_side(options, train_split, eval_split, cache, get_loaders)
    progress.info(
        "image tower %s: inputs ready (%s, cache %s, %.1f s)",
        image.name,
        "x".join(map(str, image.train_inputs.shape)),
        image.cache,
        image.feature_seconds,
    )
    text = text_side(options, train_split, eval_split, serving_dir, cache, get_loaders)
    progress.info(
        "text tower %s: inputs ready (%s, cache %s, %.1f s)",
        text.name,
        "x".join(map(str, text.train_inputs.shape)),
        text.cache,
        text.feature_seconds,
    )

    _, starts, counts = _caption_rows(train_split)
    _, _, eval_counts = _caption_rows(eval_split)
    caption_owner = np.repeat(np.arange(len(eval_counts)), eval_counts)
    batch_size = min(options.batch_size, num_train)
    steps_per_epoch = num_train // batch_size
    epochs = options.epochs
    if image.cache != "n/a" and text.cache != "n/a":
        # Heads only: epochs are cheap, and a small collection needs more of them.
        epochs = max(epochs, -(-options.min_steps // steps_per_epoch))
    total_steps = steps_per_epoch * epochs
    model = DualEncoder(
        image.trainable, text.trainable, options.initial_temperature, options.min_temperature
    )
    model.compile(optimizer=_optimizer(options, total_steps))
    model.optimizer.build(model.trainable_variables)

    losses, recalls, eval_seconds = [], [], 0.0
    fit_started = time.perf_counter()
    for epoch in range(epochs):
        epoch_started = time.perf_counter()
        dataset = _epoch_dataset(
            image.train_inputs, text.train_inputs, starts, counts, batch_size, rng
        )
        history = model.fit(dataset, epochs=epoch + 1, initial_epoch=epoch, verbose=0)
        loss = float(history.history["loss"][-1])
        if not np.isfinite(loss):
            raise TrainingError(
                f"epoch {epoch + 1}: the loss is {loss}; lower trainer.learning_rate"
            )
        losses.append(round(loss, 5))
        line = f"epoch {epoch + 1}/{epochs}  loss {loss:.4f}  temperature {model.temperature():.4f}"
        # Recall on the eval split: every epoch while it is cheap (heads on features),
        # else at the end only.
        if len(caption_owner) and (image.cache != "n/a" or epoch + 1 == epochs):
            eval_started = time.perf_counter()
            recall = _recall(
                image.trainable, text.trainable, image.eval_inputs, text.eval_inputs, caption_owner
            )
            eval_seconds += time.perf_counter() - eval_started
            recalls.append({"epoch": epoch + 1, **recall})
            line += (
                f"  eval text->image R@1 {recall['recall@1']:.3f}  R@10 {recall['recall@10']:.3f}"
            )
        progress.info("%s  (%.1f s)", line, time.perf_counter() - epoch_started)
    fit_seconds = time.perf_counter() - fit_started

    export_started = time.perf_counter()
    image_encoder, text_encoder = image.whole(), text.whole()
    if text.export is not None:
        model_config = text.export(image_encoder, text_encoder)
    else:
        model_config = export.export_model(serving_dir, image_encoder, text_encoder, options)
    export_seconds = time.perf_counter() - export_started

    summary = write_training_summary(
        serving_dir,
        options,
        extras,
        model,
        (image_encoder, text_encoder),
        model_config,
        data={
            "train_files": train_files,
            "eval_files": eval_files,
            "train_images": num_train,
            "train_images_without_captions": len(train_split.image_ids) - num_train,
            "eval_images": len(eval_split.image_ids),
            "eval_captions": int(len(caption_owner)),
        },
        schedule=(batch_size, epochs, steps_per_epoch),
        curves=(losses, recalls),
        wall_seconds={
            "inputs": round(image.feature_seconds + text.feature_seconds, 2),
            "training": round(fit_seconds - eval_seconds, 2),
            "eval_during_training": round(eval_seconds, 2),
            "export": round(export_seconds, 2),
            "total": round(time.perf_counter() - started, 2),
        },
        towers={
            side: {
                "name": s.name,
                "cache": s.cache,
                "inputs_seconds": round(s.feature_seconds, 2),
                "backbone_parameters": s.backbone_parameters,
                "trained_parameters": int(
                    sum(np.prod(w.shape) for w in s.trainable.trainable_weights)
                ),
            }
            for side, s in (("image", image), ("text", text))
        },
    )
    return Trained(summary, image_encoder, text_encoder)
