"""Visual questions about the coloured shapes of `mmprep.data.shapes`: a tiny visual-instruction dataset.

Every image gets one question of each type, with a one-word answer:

    colour  "what colour is the shape on the left"      -> "red"     (asks about an occupied position)
    shape   "what shape is at the top"                  -> "circle"
    count   "how many shapes are there"                 -> "one" | "two"
    exists  "is there a blue square"                    -> "yes" | "no"

"exists" questions are balanced: with probability `absent_prob` they name a colour+shape that is NOT in
the image (the answer is "no"); that is where a model that does not look at the image hallucinates, and
the share of "yes" answers on such questions (the yes-ratio, as in POPE) measures it.

The vocabulary is closed and fixed (`VOCAB`), with three special tokens: padding (id 0), the image
placeholder (id 1), the end of an answer (id 2). `encode` / `decode` map words to ids and back.

>>> data = make_vqa(8, seed=0)
>>> data.images.shape, len(data.questions), data.question_types[:4]
((8, 3, 24, 24), 32, ['colour', 'shape', 'count', 'exists'])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mmprep.data.shapes import COLOURS, SHAPES, Scene, make_shapes

PAD, IMAGE, EOS = "<pad>", "<image>", "<eos>"
PAD_ID, IMAGE_ID, EOS_ID = 0, 1, 2
QUESTION_TYPES = ("colour", "shape", "count", "exists")
POSITION_PHRASES = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom"}
ANSWERS = {"colour": tuple(COLOURS), "shape": SHAPES, "count": ("one", "two"), "exists": ("yes", "no")}
_WORDS = sorted({*"what colour is the shape how many shapes are there on at".split(), *"left right top bottom".split(),
                 *COLOURS, *SHAPES, "one", "two", "yes", "no", "a", "an"})
VOCAB: tuple[str, ...] = (PAD, IMAGE, EOS, *_WORDS)
WORD_ID = {w: i for i, w in enumerate(VOCAB)}


def encode(text: str) -> list[int]:
    """Word ids of a question or answer (lower case, space separated); an unknown word is a ValueError."""
    words = text.lower().replace("?", " ").split()
    unknown = [w for w in words if w not in WORD_ID]
    if unknown:
        raise ValueError(f"text holds words outside the VQA vocabulary: {unknown}")
    return [WORD_ID[w] for w in words]


def decode(ids: Iterable[int]) -> str:
    """The words of `ids`, stopping at the first <eos> and skipping padding."""
    words = []
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            break
        if i != PAD_ID and 0 <= i < len(VOCAB):
            words.append(VOCAB[i])
    return " ".join(words)


@dataclass
class VQAData:
    """images (N, 3, H, W) float32 in [0, 1]; per question: its image, text, answer and type."""

    images: np.ndarray
    scenes: list[Scene]
    image_index: np.ndarray  # (Q,) int64
    questions: list[str]
    answers: list[str]
    question_types: list[str]

    def __len__(self) -> int:
        return len(self.questions)

    def of_type(self, kind: str) -> np.ndarray:
        """Indices of the questions of one type."""
        return np.array([i for i, t in enumerate(self.question_types) if t == kind], dtype=np.int64)


def questions_for(scene: Scene, rng: np.random.Generator, absent_prob: float = 0.5) -> list[tuple[str, str, str]]:
    """(question, answer, type) of each type for one scene."""
    obj = scene[int(rng.integers(len(scene)))]
    where = POSITION_PHRASES[obj.position]
    present = {(o.colour, o.shape) for o in scene}
    if rng.random() < absent_prob:
        absent = [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in present]
        colour, shape = absent[int(rng.integers(len(absent)))]
        exists = "no"
    else:
        colour, shape = sorted(present)[int(rng.integers(len(present)))]
        exists = "yes"
    return [
        (f"what colour is the shape {where}", obj.colour, "colour"),
        (f"what shape is {where}", obj.shape, "shape"),
        ("how many shapes are there", "one" if len(scene) == 1 else "two", "count"),
        (f"is there a {colour} {shape}", exists, "exists"),
    ]


def make_vqa(num_images: int, seed: int, image_size: int = 24, two_object_prob: float = 0.5,
             absent_prob: float = 0.5) -> VQAData:
    """`num_images` shapes images (drawn from `seed`) with one question of each type per image."""
    if not 0.0 <= absent_prob <= 1.0:
        raise ValueError(f"absent_prob must lie in [0, 1], got {absent_prob}")
    shapes = make_shapes(num_images, seed, image_size=image_size, captions_per_image=1, two_object_prob=two_object_prob)
    rng = np.random.default_rng([int(seed), 13])
    image_index, questions, answers, kinds = [], [], [], []
    for i, scene in enumerate(shapes.scenes):
        for question, answer, kind in questions_for(scene, rng, absent_prob):
            image_index.append(i)
            questions.append(question)
            answers.append(answer)
            kinds.append(kind)
    return VQAData(shapes.images, shapes.scenes, np.asarray(image_index, dtype=np.int64), questions, answers, kinds)
