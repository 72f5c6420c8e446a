"""In-graph twin of the device tokenizer (imports TensorFlow; see tokenizer.py for the rules).

Training and the text SavedModel's string signature both tokenize with `token_ids`, so
what the model learns from is exactly what the Task Library feeds it on device.
"""

from __future__ import annotations

import tensorflow as tf

from components.common import tokenizer


def vocab_lookup_table(vocab_path: str) -> tf.lookup.StaticHashTable:
    table = tokenizer.read_vocab_file(vocab_path)
    initializer = tf.lookup.KeyValueTensorInitializer(
        tf.constant(list(table.keys()), tf.string),
        tf.constant(list(table.values()), tf.int32),
    )
    return tf.lookup.StaticHashTable(initializer, default_value=table[tokenizer.UNKNOWN])


def token_ids(texts: tf.Tensor, table: tf.lookup.StaticHashTable, max_tokens: int) -> tf.Tensor:
    """[batch] strings -> [batch, max_tokens] int32: <START>, tokens, <PAD>-padded, truncated."""
    # The delimiter regex is RE2 in both places; tokens never contain whitespace, so
    # replacing delimiters with a space and splitting on whitespace keeps the same pieces.
    pieces = tf.strings.split(tf.strings.regex_replace(texts, tokenizer.DELIMITER_REGEX, " "))
    ids = table.lookup(pieces)
    starts = tf.fill([tf.shape(texts)[0], 1], tf.constant(tokenizer.START_ID, tf.int32))
    ids = tf.concat([tf.RaggedTensor.from_tensor(starts), ids], axis=1)
    return ids.to_tensor(default_value=tokenizer.PAD_ID, shape=[None, max_tokens])
