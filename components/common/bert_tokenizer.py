"""The Task Library's BERT-layout text input, reproduced in Python (TF-free).

A text tower in the BERT layout takes three int32 tensors [1, T]: ids, segment ids and
mask. TextEmbedder / TextSearcher (tflite-support 0.4.4, `bert_preprocessor.cc`) fill them
from a query like this, and training must feed the tower exactly the same numbers:
1. the text is lowercased, ASCII letters only (`absl::AsciiStrToLower`: "CAFÉ" -> "cafÉ");
2. the tokenizer named in the metadata splits it into subwords:
   - WordPiece (`bert_tokenizer.cc`): the text is split on ASCII whitespace, and every
     punctuation or CJK character becomes a token of its own (RE2 `kDefaultDelimRe` /
     `kDefaultIncludeDelimRe`); each token is then cut greedily into the longest vocabulary
     pieces, continuations prefixed with "##"; a token longer than 100 bytes, or one that
     cannot be cut, is "[UNK]". No accent stripping, no Unicode lowercasing.
   - SentencePiece (`sentencepiece_tokenizer.h`): `Encode` into pieces with the model's own
     normalizer.
3. the subwords are truncated to T - 2 and wrapped as [CLS] subwords [SEP];
4. each token's id is looked up (WordPiece: the vocabulary line number, blank lines skipped,
   a missing token keeps id 0; SentencePiece: `PieceToId`, so [CLS] and [SEP] become the
   unknown piece's id unless the model defines them); mask 1 on those positions; ids and
   mask 0 after them; segment ids all 0.

Written by hand (not tensorflow-text's BertTokenizer) because no library does step 1 and
step 2 the device's way: tensorflow-text and Hugging Face lowercase all of Unicode and strip
accents. The parity test runs the real Task Library on the same strings.
"""

from __future__ import annotations

import os
import unicodedata
from dataclasses import dataclass

import numpy as np

WORDPIECE = "wordpiece"
SENTENCEPIECE = "sentencepiece"
KINDS = (WORDPIECE, SENTENCEPIECE)
CLS, SEP, UNK = "[CLS]", "[SEP]", "[UNK]"
SUFFIX_INDICATOR = "##"
MAX_BYTES_PER_TOKEN = 100
MAX_CHARS_PER_SUBTOKEN = 100

# RE2's \s: ASCII whitespace without \v.
_WHITESPACE = frozenset(" \t\n\f\r")
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


class TokenizerError(ValueError):
    """A tokenizer file that cannot be used; the message names it."""


def ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _is_own_token(char: str) -> bool:
    """Characters the device's WordPiece splitter emits as a token of their own."""
    code = ord(char)
    if code < 128:
        # [!-/] [:-@] [\[-`] [{-~]: every printable ASCII character but letters and digits.
        return 33 <= code <= 126 and not char.isalnum()
    if unicodedata.category(char).startswith("P"):
        return True
    return any(low <= code <= high for low, high in _CJK_RANGES)


def split_words(text: str) -> list[str]:
    """RegexSplit(text, kDefaultDelimRe, include kDefaultIncludeDelimRe), in Python."""
    tokens: list[str] = []
    current: list[str] = []
    for char in text:
        if char in _WHITESPACE or _is_own_token(char):
            if current:
                tokens.append("".join(current))
                current = []
            if char not in _WHITESPACE:
                tokens.append(char)
        else:
            current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


class WordPieceTokenizer:
    kind = WORDPIECE

    def __init__(self, vocab_path: str):
        if not os.path.isfile(vocab_path):
            raise TokenizerError(f"{vocab_path}: no such WordPiece vocabulary file")
        with open(vocab_path, "rb") as f:
            # std::getline splits on \n only and skips empty lines (common_utils.cc).
            lines = [line for line in f.read().split(b"\n") if line]
        try:
            self.vocab = [line.decode("utf-8") for line in lines]
        except UnicodeDecodeError as e:
            raise TokenizerError(f"{vocab_path}: not UTF-8 ({e})") from e
        # Like the device's map, a token listed twice keeps its last line's id.
        self.ids = {token: i for i, token in enumerate(self.vocab)}
        missing = [t for t in (CLS, SEP, UNK) if t not in self.ids]
        if missing:
            raise TokenizerError(f"{vocab_path}: the vocabulary lacks {missing}")
        self.path = vocab_path

    def subwords(self, text: str) -> list[str]:
        out: list[str] = []
        for word in split_words(text):
            out.extend(self._wordpiece(word))
        return out

    def _wordpiece(self, word: str) -> list[str]:
        if len(word.encode("utf-8")) > MAX_BYTES_PER_TOKEN:
            return [UNK]
        pieces, start = [], 0
        while start < len(word):
            end = min(len(word), start + MAX_CHARS_PER_SUBTOKEN)
            while end > start:
                piece = word[start:end] if start == 0 else SUFFIX_INDICATOR + word[start:end]
                if piece in self.ids:
                    break
                end -= 1
            if end == start:
                return [UNK]
            pieces.append(piece)
            start = end
        return pieces

    def token_id(self, token: str) -> int:
        return self.ids.get(token, 0)


class SentencePieceTokenizer:
    kind = SENTENCEPIECE

    def __init__(self, model_path: str):
        import sentencepiece

        if not os.path.isfile(model_path):
            raise TokenizerError(f"{model_path}: no such SentencePiece model file")
        self.processor = sentencepiece.SentencePieceProcessor()
        try:
            self.processor.Load(model_path)
        except (OSError, RuntimeError) as e:
            raise TokenizerError(f"{model_path}: not a SentencePiece model ({e})") from e
        self.path = model_path

    def subwords(self, text: str) -> list[str]:
        return list(self.processor.EncodeAsPieces(text))

    def token_id(self, token: str) -> int:
        return int(self.processor.PieceToId(token))


Tokenizer = WordPieceTokenizer | SentencePieceTokenizer


def load(kind: str, path: str) -> Tokenizer:
    if kind == WORDPIECE:
        return WordPieceTokenizer(path)
    if kind == SENTENCEPIECE:
        return SentencePieceTokenizer(path)
    raise TokenizerError(f"{path}: unknown tokenizer kind {kind!r} (expected one of {KINDS})")


@dataclass
class BertInputs:
    """What the device feeds the three input tensors: int32 [n, T] each."""

    ids: np.ndarray
    segment_ids: np.ndarray
    mask: np.ndarray

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.ids, self.segment_ids, self.mask


def encode_one(tokenizer: Tokenizer, text: str, max_tokens: int) -> list[int]:
    """The ids of one text (mask = 1 exactly on these positions)."""
    subwords = tokenizer.subwords(ascii_lower(text))[: max(max_tokens - 2, 0)]
    return [tokenizer.token_id(t) for t in [CLS, *subwords, SEP]]


def encode(tokenizer: Tokenizer, texts: list[str], max_tokens: int) -> BertInputs:
    ids = np.zeros([len(texts), max_tokens], np.int32)
    mask = np.zeros([len(texts), max_tokens], np.int32)
    for row, text in enumerate(texts):
        row_ids = encode_one(tokenizer, text, max_tokens)
        ids[row, : len(row_ids)] = row_ids
        mask[row, : len(row_ids)] = 1
    return BertInputs(ids, np.zeros_like(ids), mask)
