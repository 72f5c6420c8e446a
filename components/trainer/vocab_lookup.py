"""Token -> id lookup for the in-graph tokenizer (tf_text.token_ids) without a hash table.

A tf.lookup table is a resource with an initializer, and a SavedModel runs every
initializer: with one in text_encoder/, even the token-id signature cannot be converted to
TFLite with builtin ops only (HashTableV2 / LookupTableImportV2 need Flex, which the Task
Library interpreter lacks). So the vocabulary is held as constants instead: the 63-bit
FarmHash fingerprints of its tokens, sorted, and a binary search. Construction refuses a
vocabulary with two tokens of one fingerprint; an out-of-vocabulary word that shares a
vocabulary token's fingerprint (odds about 1e-14 per word at 20k tokens) would take its id.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.common import tokenizer

_BUCKETS = 2**63 - 1  # to_hash_bucket_fast = Fingerprint64 mod this


def _fingerprints(tokens) -> tf.Tensor:
    return tf.strings.to_hash_bucket_fast(tokens, _BUCKETS)


class VocabLookup(tf.Module):
    """Duck-types the `lookup` of tf_text.vocab_lookup_table's table: ragged strings -> ids."""

    def __init__(self, vocab_path: str):
        super().__init__()
        table = tokenizer.read_vocab_file(vocab_path)
        fingerprints = _fingerprints(tf.constant(list(table.keys()), tf.string)).numpy()
        ids = np.asarray(list(table.values()), np.int32)
        order = np.argsort(fingerprints, kind="stable")
        fingerprints, ids = fingerprints[order], ids[order]
        if len(np.unique(fingerprints)) != len(fingerprints):
            raise ValueError(f"{vocab_path}: two tokens share a fingerprint; rename one")
        self.fingerprints = tf.constant(fingerprints, tf.int64)
        self.ids = tf.constant(ids, tf.int32)
        self.unknown_id = table[tokenizer.UNKNOWN]

    def lookup(self, tokens):
        if isinstance(tokens, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self._lookup, tokens)
        return self._lookup(tokens)

    def _lookup(self, tokens: tf.Tensor) -> tf.Tensor:
        wanted = _fingerprints(tokens)
        position = tf.searchsorted(self.fingerprints, tf.reshape(wanted, [-1]), side="left")
        position = tf.reshape(
            tf.minimum(position, tf.size(self.fingerprints) - 1), tf.shape(wanted)
        )
        found = tf.equal(tf.gather(self.fingerprints, position), wanted)
        return tf.where(
            found, tf.gather(self.ids, position), tf.constant(self.unknown_id, tf.int32)
        )
