"""Small, honest BERT-layout tokenizers for tests: a SentencePiece model trained here with
the `sentencepiece` library, and a WordPiece vocabulary written here.

Pretrained towers ship far larger ones (MiniLM's 30,522-token WordPiece vocabulary,
USE-multilingual's 128k-piece SentencePiece model); these exercise the same code paths in
seconds.
"""

from __future__ import annotations

import os

import numpy as np

WORDPIECE_TOKENS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "a",
    "an",
    "the",
    "red",
    "blue",
    "green",
    "circle",
    "square",
    "triangle",
    "star",
    "on",
    "left",
    "right",
    "of",
    "top",
    "bottom",
    "and",
    "dog",
    "cat",
    "photo",
    "cafe",
    "café",
    "crème",
    "na",
    "##ive",
    "##ï",
    "##ve",
    "東",
    "京",
    "の",
    "犬",
    "un",
    "##known",
    "##s",
    "small",
    "big",
    "two",
    "three",
    ",",
    ".",
    "!",
    "'",
    "?",
    "s",
    "t",
    "don",
    "x",
    "_",
    "y",
    "z",
    "1",
    "##2",
    "##3",
    "4",
    "##5",
    "##6",
    "🐶",
    "emoji",
]


def write_wordpiece_vocab(directory: str) -> str:
    path = os.path.join(directory, "wordpiece_vocab.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(WORDPIECE_TOKENS) + "\n")
    return path


def train_sentencepiece(directory: str, sentences: list[str], vocab_size: int = 200) -> str:
    """A unigram SentencePiece model (unk 0, bos 1, eos 2, as USE-multilingual's)."""
    import io

    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    path = os.path.join(directory, "sentencepiece.model")
    with open(path, "wb") as f:
        f.write(model.getvalue())
    return path


def sentencepiece_corpus(captions: list[str]) -> list[str]:
    extra = ["café crème", "naïve résumé", "東京の犬", "emoji 🐶 dog", "Don't stop!"]
    return list(captions) + extra * 3


def tiny_bert_text_model(
    vocab_size: int, feature_dim: int = 32, seed: int = 0, length: int | None = None
):
    """A BERT-layout Keras text backbone: (ids, segment_ids, mask) int32 [B, T] -> [B, F].
    Token + segment embeddings, one dense layer, masked mean pooling. Inputs of any length
    unless `length` is given."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    ids = tf.keras.Input((length,), dtype=tf.int32, name="ids")
    segment_ids = tf.keras.Input((length,), dtype=tf.int32, name="segment_ids")
    mask = tf.keras.Input((length,), dtype=tf.int32, name="mask")
    token_table = tf.keras.layers.Embedding(
        vocab_size,
        feature_dim,
        name="tokens",
        embeddings_initializer=tf.keras.initializers.Constant(
            rng.normal(0, 1, (vocab_size, feature_dim)).astype(np.float32)
        ),
    )
    segment_table = tf.keras.layers.Embedding(2, feature_dim, name="segments")
    x = token_table(ids) + segment_table(segment_ids)
    x = tf.keras.layers.Dense(feature_dim, activation="tanh", name="mix")(x)
    weights = tf.keras.layers.Lambda(lambda m: tf.cast(m, tf.float32)[..., None])(mask)
    pooled = tf.keras.layers.Lambda(
        lambda t: tf.reduce_sum(t[0] * t[1], 1) / tf.maximum(tf.reduce_sum(t[1], 1), 1.0)
    )([x, weights])
    return tf.keras.Model([ids, segment_ids, mask], pooled, name="tiny_bert")


def tiny_image_backbone_model(image_size: int, feature_dim: int = 24, seed: int = 0):
    """An image backbone of the catalogue's contract: float32 [B, S, S, 3] RGB 0..255 ->
    [B, F]. Fixed random convolutions plus colour statistics (what the generated shapes
    differ by), global pooling."""
    import tensorflow as tf

    tf.random.set_seed(seed)
    pixels = tf.keras.Input((image_size, image_size, 3), dtype=tf.float32, name="pixels")
    x = tf.keras.layers.Rescaling(1.0 / 255)(pixels)
    x = tf.keras.layers.Conv2D(feature_dim, 5, strides=2, activation="relu", name="conv1")(x)
    x = tf.keras.layers.Conv2D(feature_dim, 3, strides=2, activation="relu", name="conv2")(x)
    pooled = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(pixels, pooled, name="tiny_image_backbone")


def tiny_loaders(directory: str, kind: str, corpus: list[str]):
    """BackboneLoaders building tiny honest backbones with real tokenizer files."""
    from types import SimpleNamespace

    from components.trainer.pretrained import BackboneLoaders

    if kind == "wordpiece":
        path, vocab_size = write_wordpiece_vocab(directory), len(WORDPIECE_TOKENS)
        files = {"vocab": path}
    else:
        import sentencepiece

        path = train_sentencepiece(directory, corpus)
        vocab_size = sentencepiece.SentencePieceProcessor(model_file=path).GetPieceSize()
        files = {"sentencepiece_model": path}

    def image(spec, image_size, weights=""):
        model = tiny_image_backbone_model(image_size)
        return SimpleNamespace(
            name=f"tiny_image_{spec}",
            model=model,
            feature_dim=24,
            image_size=image_size,
            licence="test",
        )

    def text(spec, max_tokens):
        tokenizer = SimpleNamespace(kind=kind, files=files, lowercase=True, max_tokens=max_tokens)
        return SimpleNamespace(
            name=f"tiny_text_{kind}",
            model=tiny_bert_text_model(vocab_size),
            feature_dim=32,
            tokenizer=tokenizer,
            licence="test",
        )

    return BackboneLoaders(image, text)
