"""Training end to end: scan the data, build the vocabulary and towers, fit, export, summarize.

`train()` is what the module file's run_fn calls, and what tests and the benchmark call
directly. Output layout: the Model artifact per formats.py under `serving_dir`,
TensorBoard logs under `run_dir`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from components.common import captions, examples_io, formats, tokenizer
from components.common import retrieval_metrics
from components.trainer import data, export, options as trainer_options, towers
from components.trainer.model import DualEncoder
from components.trainer.vocab_lookup import VocabLookup

# t2i/progress.py shows this logger's lines under the running component.
progress = logging.getLogger("t2i.progress")


class TrainingError(RuntimeError):
    pass


@dataclass
class Trained:
    summary: dict  # what training_summary.json holds
    image_encoder: tf.keras.Model
    text_encoder: tf.keras.Model


def train(
    train_patterns: list[str],
    eval_patterns: list[str],
    serving_dir: str,
    run_dir: str,
    options,
    extras: dict | None = None,
) -> Trained:
    """Trains the dual encoder and writes the Model artifact under serving_dir."""
    from components.trainer import pretrained

    options = trainer_options.resolved(options)
    if pretrained.uses_backbones(options):
        # Pretrained backbones: features once, heads trained on them (pretrained.py).
        return pretrained.train(
            train_patterns, eval_patterns, serving_dir, run_dir, options, extras
        )
    started = time.perf_counter()
    extras = extras or {}
    trainer_options.validate(options)
    tf.keras.utils.set_random_seed(options.seed)

    train_files = examples_io.expand_patterns(train_patterns, "training")
    train_scan = examples_io.scan_split(train_files)
    num_train = train_scan.captioned_images
    if num_train < 2:
        raise TrainingError(
            f"{num_train} captioned training image(s) in {train_files}; "
            "contrastive training needs at least 2"
        )
    # Without eval data (eval_fraction 0) training runs, just without per-epoch recall.
    eval_files = examples_io.expand_patterns(eval_patterns or [], "eval", required=False)
    eval_scan = examples_io.scan_split(eval_files)
    eval_set = data.load_eval_set(eval_files, eval_scan, options.image_size)

    os.makedirs(serving_dir, exist_ok=True)
    # The exporter's check inputs, carried by the model so the exporter needs no Examples.
    captions.write_eval_captions(
        serving_dir, captions.first_captions_first(eval_scan.captions, captions.EVAL_CAPTIONS_LIMIT)
    )
    style = towers.text_input_style(options.text_tower)
    table, vocab_size = None, 0
    if style == formats.TEXT_STYLE_REGEX_IDS:
        vocab_path = os.path.join(serving_dir, formats.MODEL_VOCAB)
        tokenizer.write_vocab_file(
            vocab_path,
            tokenizer.build_vocab(
                train_scan.all_captions(), options.vocab_min_count, options.vocab_max_size
            ),
        )
        # The lookup the text SavedModel uses, so training tokenizes exactly as serving.
        table = VocabLookup(vocab_path)
        vocab_size = max(tokenizer.read_vocab_file(vocab_path).values()) + 1
    encode_captions = data.caption_encoder(table, options.max_tokens)

    # Whole batches only, so a set smaller than one batch trains on one batch of everything.
    batch_size = min(options.batch_size, num_train)
    steps_per_epoch = num_train // batch_size
    total_steps = steps_per_epoch * options.epochs
    strategy = _strategy()
    with strategy.scope():
        image_encoder = towers.build_image_encoder(options)
        text_encoder = towers.build_text_encoder(options, vocab_size)
        model = DualEncoder(
            image_encoder, text_encoder, options.initial_temperature, options.min_temperature
        )
        model.compile(optimizer=_optimizer(options, total_steps))
        # Slot variables made now, not inside the first step: a tf.function that creates
        # variables is traced twice, and tracing is most of a small model's first epoch.
        model.optimizer.build(model.trainable_variables)
    dataset = data.training_dataset(
        train_files, encode_captions, options.image_size, batch_size, options.seed, num_train
    )

    report = EpochReport(eval_set, encode_captions, options.epochs, run_dir)
    callbacks = [report]
    if run_dir:
        callbacks.append(
            tf.keras.callbacks.TensorBoard(
                os.path.join(run_dir, "train"), write_graph=False, profile_batch=0
            )
        )
    fit_started = time.perf_counter()
    model.fit(dataset, epochs=options.epochs, verbose=0, callbacks=callbacks)
    fit_seconds = time.perf_counter() - fit_started

    export_started = time.perf_counter()
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
            "train_images_without_captions": len(train_scan.image_ids) - num_train,
            "eval_images": int(len(eval_set.images)),
            "eval_captions": len(eval_set.captions),
            "vocab_size": vocab_size,
        },
        schedule=(batch_size, options.epochs, steps_per_epoch),
        curves=(report.losses, report.recalls),
        wall_seconds={
            # Training = fit() without the per-epoch eval embedding passes.
            "training": round(fit_seconds - report.eval_seconds, 2),
            "eval_during_training": round(report.eval_seconds, 2),
            "export": round(export_seconds, 2),
            "total": round(time.perf_counter() - started, 2),
        },
        strategy=type(strategy).__name__,
        replicas=strategy.num_replicas_in_sync,
    )
    return Trained(summary, image_encoder, text_encoder)


def write_training_summary(
    serving_dir: str,
    options,
    extras: dict,
    model: DualEncoder,
    exported: tuple[tf.keras.Model, tf.keras.Model],
    model_config: dict,
    data: dict,
    schedule: tuple[int, int, int],
    curves: tuple[list, list],
    wall_seconds: dict,
    **specific,
) -> dict:
    """Writes training_summary.json (both training paths: end to end here, heads on
    backbone features in pretrained.py) and returns it.

    exported: the (image, text) towers as exported (with a frozen backbone, the model
    trains only the heads); data: the files and counts trained and evaluated on; schedule: (batch size, epochs,
    steps per epoch); curves: (loss per epoch, eval recall per epoch); wall_seconds with
    "training" (fit without the eval passes); specific: what only one path records."""
    batch_size, epochs, steps_per_epoch = schedule
    losses, recalls = curves
    summary = {
        "config": trainer_options.as_dict(options),
        "code_version": extras.get("code_version", ""),
        "model_config": model_config,
        **data,
        "batch_size": batch_size,
        "epochs": epochs,
        "steps_per_epoch": steps_per_epoch,
        "steps": steps_per_epoch * epochs,
        "loss_curve": losses,
        "eval_recall_curve": recalls,
        "final_temperature": model.temperature(),
        "parameters": {
            "image_encoder": exported[0].count_params(),
            "text_encoder": exported[1].count_params(),
        },
        **specific,
        "tensorflow": tf.__version__,
        "wall_seconds": wall_seconds,
        "examples_per_second": round(
            steps_per_epoch * epochs * batch_size / max(wall_seconds["training"], 1e-9), 1
        ),
    }
    with open(os.path.join(serving_dir, formats.TRAINING_SUMMARY), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def _strategy() -> tf.distribute.Strategy:
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _optimizer(options, total_steps: int) -> tf.keras.optimizers.Optimizer:
    """AdamW; linear warm-up to learning_rate, then cosine decay to zero."""
    warmup = int(round(total_steps * options.warmup_fraction))
    if warmup:
        schedule = tf.keras.optimizers.schedules.CosineDecay(
            0.0,
            max(total_steps - warmup, 1),
            warmup_target=options.learning_rate,
            warmup_steps=warmup,
        )
    else:
        schedule = tf.keras.optimizers.schedules.CosineDecay(
            options.learning_rate, max(total_steps, 1)
        )
    # No XLA: compiling the update costs more than it saves for models this small on CPU.
    optimizer = tf.keras.optimizers.AdamW(
        learning_rate=schedule, weight_decay=options.weight_decay, jit_compile=False
    )
    # Decay weights, not biases, norm scales/offsets or the temperature (as CLIP does).
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "log_logit_scale"])
    return optimizer


class EpochReport(tf.keras.callbacks.Callback):
    """One progress line per epoch: mean loss, temperature, eval text->image recall."""

    def __init__(self, eval_set: data.EvalSet, encode_captions, epochs: int, run_dir: str):
        super().__init__()
        self.eval_set = eval_set
        self.epochs = epochs
        self.losses: list[float] = []
        self.recalls: list[dict] = []
        self.eval_seconds = 0.0
        self._epoch_started = 0.0
        self._caption_inputs = (
            encode_captions(tf.constant(eval_set.captions, tf.string))
            if eval_set.has_queries
            else None
        )
        self._writer = (
            tf.summary.create_file_writer(os.path.join(run_dir, "eval"))
            if run_dir and eval_set.has_queries
            else None
        )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            raise TrainingError(
                f"epoch {epoch + 1}: the loss is {loss}; lower trainer.learning_rate"
            )
        self.losses.append(round(loss, 5))
        line = (
            f"epoch {epoch + 1}/{self.epochs}  loss {loss:.4f}  "
            f"temperature {self.model.temperature():.4f}"
        )
        if self.eval_set.has_queries:
            eval_started = time.perf_counter()
            recall = self.evaluate()
            self.eval_seconds += time.perf_counter() - eval_started
            self.recalls.append({"epoch": epoch + 1, **recall})
            line += (
                f"  eval text->image R@1 {recall['recall@1']:.3f}  R@10 {recall['recall@10']:.3f}"
                f"  median rank {recall['median_rank']:g}"
            )
            if self._writer is not None:
                with self._writer.as_default():
                    for name, value in recall.items():
                        tf.summary.scalar(f"text_to_image/{name}", value, step=epoch + 1)
        progress.info("%s  (%.1f s)", line, time.perf_counter() - self._epoch_started)

    def evaluate(self) -> dict:
        image_embeddings = embed_in_batches(self.model.image_encoder, self.eval_set.images)
        text_embeddings = embed_in_batches(self.model.text_encoder, self._caption_inputs)
        ranks = retrieval_metrics.text_to_image_ranks(
            text_embeddings, image_embeddings, self.eval_set.caption_image_index
        )
        summary = retrieval_metrics.summarize(ranks)
        return {k: round(v, 4) for k, v in summary.items() if k != "queries"}


def embed_in_batches(encoder: tf.keras.Model, inputs, batch_size: int = 256) -> np.ndarray:
    """Embeddings of `inputs` (uint8 pixels, token ids or strings), batch by batch."""

    def batch(start):
        chunk = inputs[start : start + batch_size]
        # Pixels are kept as uint8 and made float one batch at a time.
        return tf.cast(chunk, tf.float32) if chunk.dtype == np.uint8 else chunk

    outputs = [
        encoder(batch(start), training=False).numpy()
        for start in range(0, int(inputs.shape[0]), batch_size)
    ]
    return (
        np.concatenate(outputs) if outputs else np.zeros([0, encoder.output_shape[-1]], np.float32)
    )
