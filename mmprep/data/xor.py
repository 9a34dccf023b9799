"""The XOR image+text task: a label that neither modality predicts on its own.

Each example is a tiny RGB image (a coloured square on a noisy background) and a short "caption"
of token ids. The image property is the square's colour (red or green); the text property is the
colour word the caption mentions. The label is their XOR: 1 when the caption names the other colour
("the caption does not describe the image"), 0 when it matches. Each property alone is independent
of the label, so a unimodal model sits at 50% and late fusion of averaged logits cannot learn it;
a model must combine the modalities before its decision (early, tensor, low-rank, gated fusion).

Everything comes from a seed; nothing is downloaded.

Token ids: 0 is padding, 1 the word "red", 2 the word "green", 3 .. vocab_size-1 filler words.
Captions are right-padded with 0 to the longest caption of the set; `lengths` gives the true lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD_ID, RED_ID, GREEN_ID = 0, 1, 2
COLOUR_WORDS = {RED_ID: "red", GREEN_ID: "green"}
FIRST_FILLER_ID = 3


@dataclass(frozen=True)
class XorTask:
    """One generated split. Arrays, shapes with N examples and L = max caption length:

    images:     (N, 3, S, S) float32, roughly zero-mean
    tokens:     (N, L) int64, right-padded with PAD_ID (0)
    lengths:    (N,) int64, true caption lengths (>= 1)
    image_bit:  (N,) int64, 1 when the square is green, 0 when red
    text_bit:   (N,) int64, 1 when the caption says "green", 0 when "red"
    labels:     (N,) int64, image_bit XOR text_bit
    vocab_size: number of token ids (padding included)
    """

    images: np.ndarray
    tokens: np.ndarray
    lengths: np.ndarray
    image_bit: np.ndarray
    text_bit: np.ndarray
    labels: np.ndarray
    vocab_size: int

    def __len__(self) -> int:
        return len(self.labels)


def make_xor_task(
    n: int,
    seed: int,
    image_size: int = 16,
    vocab_size: int = 20,
    min_length: int = 3,
    max_length: int = 10,
    noise: float = 0.3,
) -> XorTask:
    """Generate `n` examples of the XOR task from `seed` (same arguments, same arrays).

    image_size:  side S of the square images (>= 6); the coloured square has side S // 3.
    vocab_size:  token ids 0..vocab_size-1 (>= 4: padding, "red", "green", at least one filler).
    min_length, max_length: caption lengths are drawn uniformly from [min_length, max_length];
                 each caption holds exactly one colour word at a random position, the rest fillers.
    noise:       standard deviation of the Gaussian pixel noise.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if image_size < 6:
        raise ValueError(f"image_size must be >= 6, got {image_size}")
    if vocab_size < FIRST_FILLER_ID + 1:
        raise ValueError(f"vocab_size must be >= {FIRST_FILLER_ID + 1}, got {vocab_size}")
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length} and {max_length}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    n = int(n)
    image_bit = rng.integers(0, 2, size=n)
    text_bit = rng.integers(0, 2, size=n)

    # images: grey noisy background, a square of side S // 3 at a random place, red or green
    side = image_size // 3
    images = rng.normal(0.0, noise, size=(n, 3, image_size, image_size)).astype(np.float32)
    corners = rng.integers(0, image_size - side + 1, size=(n, 2))
    channel = np.where(image_bit == 1, 1, 0)  # green is channel 1, red channel 0
    for i, ((row, col), c) in enumerate(zip(corners, channel, strict=True)):
        images[i, c, row : row + side, col : col + side] += 1.5

    # captions: fillers with one colour word
    lengths = rng.integers(min_length, max_length + 1, size=n)
    tokens = np.full((n, int(lengths.max())), PAD_ID, dtype=np.int64)
    for i, length in enumerate(lengths):
        tokens[i, :length] = rng.integers(FIRST_FILLER_ID, vocab_size, size=length)
        tokens[i, rng.integers(0, length)] = GREEN_ID if text_bit[i] else RED_ID
    return XorTask(
        images=images,
        tokens=tokens,
        lengths=lengths.astype(np.int64),
        image_bit=image_bit.astype(np.int64),
        text_bit=text_bit.astype(np.int64),
        labels=(image_bit ^ text_bit).astype(np.int64),
        vocab_size=int(vocab_size),
    )


def caption_text(tokens: np.ndarray, length: int) -> str:
    """A readable caption for plots and lessons: 'w7 w3 red w12'."""
    words = []
    for t in np.asarray(tokens)[: int(length)].tolist():
        words.append(COLOUR_WORDS.get(t, f"w{t}"))
    return " ".join(words)
