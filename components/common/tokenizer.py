"""The text tokenizer contract shared by training (TensorFlow) and the device (Task Library).

The Task Library's RegexTokenizer splits the query on DELIMITER_REGEX (RE2), keeps the
non-empty pieces, looks each up in the vocabulary file exactly as written (no
lowercasing on device), prepends <START>, truncates to the model's input length and pads
with <PAD>; unknown pieces become <UNKNOWN>. The vocabulary we write maps lowercased
training tokens to ids and also lists each token's Capitalized and UPPER forms under the
same id, so "Dog" and "DOG" find "dog" on device without lowercasing. Training looks
tokens up in that same expanded table, so the two sides agree by construction.

TF-free: the on-device search CLI uses `encode` to refuse queries made of unknown words.
"""

from __future__ import annotations

import collections
import unicodedata
from typing import Iterable

# RE2 syntax; `\w` is ASCII-only in RE2, the Unicode classes keep "café" and CJK words whole.
DELIMITER_REGEX = r"[^\pL\pN_']+"
PAD, START, UNKNOWN = "<PAD>", "<START>", "<UNKNOWN>"
SPECIAL_TOKENS = (PAD, START, UNKNOWN)  # ids 0, 1, 2
PAD_ID, START_ID, UNKNOWN_ID = 0, 1, 2


def _is_token_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LN" or char in "_'"


def split(text: str) -> list[str]:
    """The pieces RE2 leaves between DELIMITER_REGEX matches (Python mirror of the device)."""
    pieces, current = [], []
    for char in text:
        if _is_token_char(char):
            current.append(char)
        elif current:
            pieces.append("".join(current))
            current = []
    if current:
        pieces.append("".join(current))
    return pieces


def case_variants(token: str) -> list[str]:
    """The forms of a lowercased vocabulary token that the vocab file also lists."""
    variants = [token]
    for form in (token[:1].upper() + token[1:], token.upper()):
        if form not in variants:
            variants.append(form)
    return variants


def build_vocab(captions: Iterable[str], min_count: int = 1, max_size: int = 20000) -> list[str]:
    """Lowercased tokens of the captions, most frequent first (ties alphabetical)."""
    counts = collections.Counter(piece.lower() for caption in captions for piece in split(caption))
    ranked = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return ranked[: max(0, max_size - len(SPECIAL_TOKENS))]


def vocab_table(tokens: list[str]) -> dict[str, int]:
    """token -> id, with the special tokens first and every token's case variants."""
    table = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for i, token in enumerate(tokens, start=len(SPECIAL_TOKENS)):
        for form in case_variants(token):
            table.setdefault(form, i)
    return table


def write_vocab_file(path: str, tokens: list[str]) -> None:
    """The Task Library format: one `<token> <id>` line each, single space."""
    with open(path, "w", encoding="utf-8") as f:
        for token, token_id in vocab_table(tokens).items():
            f.write(f"{token} {token_id}\n")


def read_vocab_file(path: str) -> dict[str, int]:
    table = {}
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            token, sep, token_id = line.rstrip("\n").rpartition(" ")
            if not sep or not token or not token_id.isdigit():
                raise ValueError(f"{path}:{line_number}: expected '<token> <id>', got {line!r}")
            table[token] = int(token_id)
    for special in SPECIAL_TOKENS:
        if special not in table:
            raise ValueError(f"{path}: the vocabulary lacks {special}")
    return table


def encode(text: str, table: dict[str, int], length: int) -> list[int]:
    """The ids the device feeds the model for `text`."""
    ids = [table[START]] + [table.get(piece, table[UNKNOWN]) for piece in split(text)]
    ids = ids[:length]
    return ids + [table[PAD]] * (length - len(ids))
