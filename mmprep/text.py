"""A word tokenizer whose vocabulary comes from training captions.

Lower-cases, splits on anything that is not a letter or a digit, and maps words it never saw in
training (or saw fewer than `min_freq` times) to `<unk>`. Id 0 is `<pad>`, id 1 is `<unk>`.

>>> tok = WordTokenizer.from_texts(["a red circle", "a blue square"])
>>> tok.encode("A red TRIANGLE")
[2, 5, 1]
>>> ids, lengths = tok(["a red circle", "a square"])
>>> ids.tolist(), lengths.tolist()
([[2, 5, 4], [2, 6, 0]], [3, 2])
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
_WORD = re.compile(r"[a-z0-9]+")


def split_words(text: str) -> list[str]:
    """'A red-circle, left!' -> ['a', 'red', 'circle', 'left']."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _WORD.findall(text.lower())


class WordTokenizer:
    """Words to ids and back; build it with `WordTokenizer.from_texts(training_captions)`."""

    def __init__(self, vocab: Sequence[str]):
        vocab = list(vocab)
        if vocab[:2] != [PAD, UNK]:
            raise ValueError(f"vocab must start with {PAD!r}, {UNK!r}, got {vocab[:2]}")
        if len(set(vocab)) != len(vocab):
            raise ValueError("vocab holds a word twice")
        self.vocab = vocab
        self.word_to_id = {w: i for i, w in enumerate(vocab)}

    @classmethod
    def from_texts(cls, texts: Iterable[str], min_freq: int = 1, max_size: int | None = None) -> WordTokenizer:
        """Vocabulary of the words seen at least `min_freq` times, most frequent first (ties alphabetical)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings, not one string")
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1, got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size < 0):
            raise ValueError(f"max_size must be a non-negative integer or None, got {max_size!r}")
        counts = Counter(w for t in texts for w in split_words(t))
        words = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls([PAD, UNK, *words[:max_size]])

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    def encode(self, text: str) -> list[int]:
        """Ids of the words of `text`; unknown words become `unk_id`."""
        return [self.word_to_id.get(w, UNK_ID) for w in split_words(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Words for ids, padding dropped."""
        return " ".join(self.vocab[int(i)] for i in ids if int(i) != PAD_ID)

    def __call__(self, texts: str | Sequence[str], max_len: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Encode a batch: (ids (B, L) int64 padded with 0, lengths (B,) int64).

        L is the longest caption, or `max_len` (longer captions are cut). A caption with no word
        has length 0 and a row of padding: encoders must not divide by its length unguarded.
        """
        if isinstance(texts, str):
            texts = [texts]
        if max_len is not None and (not isinstance(max_len, int) or max_len < 1):
            raise ValueError(f"max_len must be a positive integer or None, got {max_len!r}")
        encoded = [self.encode(t)[:max_len] for t in texts]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        width = max_len if max_len is not None else max(1, int(lengths.max(initial=0)))
        ids = np.full((len(encoded), width), PAD_ID, dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, : len(e)] = e
        return ids, lengths

    # plain JSON, so a saved retrieval system never needs pickle
    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"vocab": self.vocab}), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> WordTokenizer:
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["vocab"])
