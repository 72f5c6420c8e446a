"""A lookup "text encoder" whose query "q<i>" embeds to a given vector (TensorFlow process).

The Task Library searches only from text or images, never from a raw vector. To measure
the real on-device searcher on known query vectors (auto-tuning here, the benchmark in
bench/), we convert a tiny model that maps the regex-tokenized query "q<i>" to row i of
a table, give it the same tokenizer metadata as the real text encoder, and attach the
candidate index to it: tokenizer, TFLite interpreter, partitioner and scorer are the
ones a phone runs, and the query vector is exactly the one we chose.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import tensorflow as tf

from components.common import tokenizer
from components.common.device_search import native_stderr_silenced
from components.common import runtime_env

_FIRST_QUERY_ID = len(tokenizer.SPECIAL_TOKENS)


def query_token(i: int) -> str:
    return f"q{i}"


class _Lookup(tf.Module):
    def __init__(self, table: np.ndarray):
        super().__init__()
        self.table = tf.constant(table)

    @tf.function(input_signature=[tf.TensorSpec([1, 2], tf.int32, name="token_ids")])
    def serve(self, token_ids):
        # Position 0 is <START>; position 1 is the query token.
        return {"embedding": tf.gather(self.table, token_ids[:, 1])}


def write_lookup_encoder(queries: np.ndarray, model_path: str, vocab_path: str) -> list[str]:
    """Writes the raw .tflite (no metadata yet) and its vocab; returns the query texts."""
    dim = queries.shape[1]
    table = np.concatenate(
        [np.zeros((_FIRST_QUERY_ID, dim), np.float32), queries.astype(np.float32)]
    )
    module = _Lookup(table)
    with tempfile.TemporaryDirectory(prefix="t2i-lookup-") as tmp:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        with native_stderr_silenced(not runtime_env.is_verbose()):
            flatbuffer = converter.convert()
    os.makedirs(os.path.dirname(os.path.abspath(model_path)), exist_ok=True)
    with open(model_path, "wb") as f:
        f.write(flatbuffer)
    texts = [query_token(i) for i in range(len(queries))]
    with open(vocab_path, "w", encoding="utf-8") as f:
        for token_id, token in enumerate(tokenizer.SPECIAL_TOKENS):
            f.write(f"{token} {token_id}\n")
        for i, text in enumerate(texts):
            f.write(f"{text} {_FIRST_QUERY_ID + i}\n")
    return texts
