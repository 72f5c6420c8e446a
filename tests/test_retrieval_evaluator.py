"""RetrievalEvaluator: recall with known answers, the blessing rule both ways, artifacts.

The known-answer cases use hand-built "oracle" models written in the Model-artifact format:
an image embeds as its normalized mean RGB, a caption naming a colour as that colour's
normalized RGB, so every score (and hence every rank) can be worked out by hand.
"""

import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.common import formats
from components.common import retrieval_metrics
from components.retrieval_evaluator import blessing, executor, work

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
# Twelve colours, no two in the same RGB direction.
PALETTE = {
    "red": RED,
    "green": GREEN,
    "blue": BLUE,
    "yellow": YELLOW,
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "orange": (255, 128, 0),
    "violet": (128, 0, 255),
    "azure": (0, 128, 255),
    "rose": (255, 0, 128),
    "lime": (128, 255, 0),
    "spring": (0, 255, 128),
}


def _png(rgb) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def write_eval_split(root, images) -> str:
    """images: [(image_id, rgb, [captions])] -> an Examples dir with Split-eval; returns root."""
    split_dir = os.path.join(root, "Split-eval")
    os.makedirs(split_dir, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(split_dir, "data.gz"), options="GZIP") as writer:
        for image_id, rgb, captions in images:
            feature = {
                formats.FEATURE_IMAGE_ID: tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[image_id])
                ),
                formats.FEATURE_IMAGE: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[_png(rgb)])
                ),
                formats.FEATURE_CAPTIONS: tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[c.encode() for c in captions])
                ),
            }
            writer.write(
                tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
            )
    return str(root)


class _OracleImage(tf.Module):
    def __init__(self, collapsed: bool):
        super().__init__()
        self.collapsed = collapsed

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def embed_bytes(self, image_bytes):
        rgb = tf.map_fn(
            lambda b: tf.reduce_mean(
                tf.cast(tf.io.decode_png(b, channels=3), tf.float32), axis=[0, 1]
            ),
            image_bytes,
            fn_output_signature=tf.float32,
        )
        if self.collapsed:
            rgb = tf.ones_like(rgb)
        return {formats.OUTPUT_EMBEDDING: tf.math.l2_normalize(rgb, axis=-1)}


class _OracleText(tf.Module):
    def __init__(self, known: dict, collapsed: bool):
        super().__init__()
        self.collapsed = collapsed
        self.names = tf.constant(list(known))
        self.rgb = tf.constant(list(known.values()), tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def embed_strings(self, text):
        # A caption it does not know embeds as zeros: it scores 0 against every image.
        rgb = tf.cast(tf.equal(text[:, None], self.names[None, :]), tf.float32) @ self.rgb
        if self.collapsed:
            rgb = tf.ones_like(rgb)
        return {formats.OUTPUT_EMBEDDING: tf.math.l2_normalize(rgb, axis=-1)}


def build_oracle_model(serving_dir, known=None, collapsed=False) -> str:
    image, text = _OracleImage(collapsed), _OracleText(known or PALETTE, collapsed)
    tf.saved_model.save(
        image,
        os.path.join(serving_dir, formats.MODEL_IMAGE_ENCODER),
        signatures={formats.SIGNATURE_IMAGE_BYTES: image.embed_bytes},
    )
    tf.saved_model.save(
        text,
        os.path.join(serving_dir, formats.MODEL_TEXT_ENCODER),
        signatures={formats.SIGNATURE_TEXT_STRINGS: text.embed_strings},
    )
    return str(serving_dir)


# Four images; the blue one also has a caption that says "red".
HAND_BUILT = [
    (10, RED, ["red"]),
    (11, GREEN, ["green"]),
    (12, BLUE, ["blue", "red"]),
    (13, YELLOW, ["yellow"]),
]


def test_metrics_known_answer_with_pessimistic_ties():
    s = 1 / np.sqrt(2)
    images = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [s, s, 0]], np.float32)
    texts = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [s, s, 0]], np.float32)
    owner = np.array([0, 1, 2, 2, 3])
    # Caption "red" of the blue image: red 1, yellow .71, then blue 0 tied with green 0 -> 4.
    assert retrieval_metrics.text_to_image_ranks(texts, images, owner).tolist() == [1, 1, 1, 4, 1]
    # The red image: its caption scores 1, and so does the blue image's "red" caption -> 2.
    assert retrieval_metrics.image_to_text_ranks(texts, images, owner).tolist() == [2, 1, 1, 1]
    summary = retrieval_metrics.summarize(np.array([1, 1, 1, 4, 1]))
    assert summary == {
        "recall@1": 0.8,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "median_rank": 1.0,
        "mean_rank": 1.6,
        "queries": 5,
    }
    # A collapsed model (all embeddings equal) ranks every positive last, not first.
    same = np.ones([5, 3], np.float32) / np.sqrt(3)
    assert retrieval_metrics.text_to_image_ranks(same, same[:4], owner).tolist() == [4] * 5
    with pytest.raises(ValueError, match="no queries"):
        retrieval_metrics.summarize(np.array([]))


def test_evaluate_hand_built_case_through_the_savedmodels(tmp_path):
    examples = write_eval_split(tmp_path / "examples", HAND_BUILT)
    model = build_oracle_model(str(tmp_path / "model"))
    out = str(tmp_path / "evaluation")
    summary = work.evaluate(
        [os.path.join(examples, "Split-eval", "*")],
        model,
        out,
        min_recall_at_10=0.5,
        max_regression=0.02,
        contact_sheet_queries=3,
    )
    assert summary["eval_images"] == 4 and summary["eval_captions"] == 5
    assert summary["text_to_image"] == {
        "recall@1": 0.8,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "median_rank": 1.0,
        "mean_rank": 1.6,
        "queries": 5,
    }
    assert summary["image_to_text"] == {
        "recall@1": 0.75,
        "recall@5": 1.0,
        "recall@10": 1.0,
        "median_rank": 1.0,
        "mean_rank": 1.25,
        "queries": 4,
    }
    assert summary["blessed"] and "no blessed baseline" in summary["reason"]
    with open(os.path.join(out, formats.EVALUATION_SUMMARY)) as f:
        assert json.load(f)["text_to_image"]["recall@1"] == 0.8
    for figure in (work.RECALL_PLOT, work.CONTACT_SHEET):
        with Image.open(os.path.join(out, figure)) as image:
            assert image.format == "PNG" and image.size[0] > 300


def _palette_examples(root):
    return write_eval_split(
        root, [(i, rgb, [name]) for i, (name, rgb) in enumerate(PALETTE.items())]
    )


def test_blessing_rule_both_ways():
    assert blessing.verdict(0.49, None, 0.5, 0.02) == (
        False,
        "text->image R@10 0.4900 is below min_recall_at_10 0.5000",
    )
    assert blessing.verdict(0.6, None, 0.5, 0.02)[0]  # first model: threshold only
    assert blessing.verdict(0.90, 0.91, 0.5, 0.02)[0]  # within tolerance
    blessed, reason = blessing.verdict(0.85, 0.91, 0.5, 0.02)
    assert not blessed and "0.0600 below the latest blessed model's 0.9100" in reason
    assert not blessing.verdict(0.95, 0.91, 0.96, 0.02)[0]  # threshold applies with a baseline too


def test_blessing_both_ways_through_evaluate(tmp_path):
    """12 images: the oracle ranks every caption first (R@10 1.0); a model that knows 9 of
    the 12 colour names ranks the other 3 captions last (R@10 0.75); a collapsed one
    ranks every caption last (R@10 0)."""
    pattern = [os.path.join(_palette_examples(tmp_path / "examples"), "Split-eval", "*")]
    oracle = build_oracle_model(str(tmp_path / "oracle"))
    partial = build_oracle_model(str(tmp_path / "partial"), known=dict(list(PALETTE.items())[:9]))
    collapsed = build_oracle_model(str(tmp_path / "collapsed"), collapsed=True)

    def run(model, baseline=None):
        return work.evaluate(
            pattern,
            model,
            str(tmp_path / "out"),
            baseline_serving_dir=baseline,
            min_recall_at_10=0.5,
            max_regression=0.02,
            contact_sheet_queries=2,
        )

    first = run(partial)
    assert first["text_to_image"]["recall@10"] == 0.75 and first["blessed"]
    regressed = run(partial, baseline=oracle)
    assert regressed["baseline"]["text_to_image"]["recall@10"] == 1.0
    assert not regressed["blessed"]
    assert "0.2500 below the latest blessed model's 1.0000" in regressed["reason"]
    assert run(oracle, baseline=partial)["blessed"]
    assert run(oracle, baseline=oracle)["blessed"]
    dead = run(collapsed)
    assert dead["text_to_image"]["recall@10"] == 0.0 and dead["text_to_image"]["median_rank"] == 12
    assert not dead["blessed"] and "below min_recall_at_10" in dead["reason"]


def test_executor_records_the_blessing_as_tfx_does(tmp_path):
    from tfx.types import artifact_utils, standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri = _palette_examples(tmp_path / "examples")
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    build_oracle_model(
        os.path.join(model.uri, "Format-Serving"), known=dict(list(PALETTE.items())[:9])
    )
    evaluation = standard_artifacts.ModelEvaluation()
    evaluation.uri = str(tmp_path / "evaluation")
    verdict = standard_artifacts.ModelBlessing()
    verdict.uri = str(tmp_path / "blessing")
    os.makedirs(verdict.uri)
    properties = {
        "min_recall_at_10": 0.8,
        "max_regression": 0.02,
        "contact_sheet_queries": 2,
        "code_version": "test",
    }

    executor.Executor().Do(
        {"examples": [examples], "model": [model]},
        {"evaluation": [evaluation], "blessing": [verdict]},
        properties,
    )
    assert evaluation.get_float_custom_property("text_to_image_recall_at_10") == 0.75
    assert evaluation.get_float_custom_property("image_to_text_median_rank") > 0
    assert os.path.exists(os.path.join(evaluation.uri, formats.EVALUATION_SUMMARY))
    assert verdict.get_int_custom_property("blessed") == 0
    assert verdict.get_string_custom_property("current_model") == model.uri
    assert verdict.get_int_custom_property("current_model_id") == model.id
    assert os.listdir(verdict.uri) == ["NOT_BLESSED"]
    assert blessing.read(verdict) == (
        False,
        "text->image R@10 0.7500 is below min_recall_at_10 0.8000",
    )


def test_bad_model_dir_is_named(tmp_path):
    examples = write_eval_split(tmp_path / "examples", HAND_BUILT)
    with pytest.raises(work.EvaluationError, match=r"nowhere/image_encoder: no SavedModel"):
        work.evaluate(
            [os.path.join(examples, "Split-eval", "*")],
            str(tmp_path / "nowhere"),
            str(tmp_path / "out"),
            min_recall_at_10=0.5,
            max_regression=0.02,
            contact_sheet_queries=0,
        )
