"""Coloured shapes with captions: a tiny image-text retrieval dataset generated from a seed.

Each image (3, H, W), values in [0, 1], shows one or two shapes on a dark noisy background.
Every object has a colour, a shape, a size and a position; a scene with two objects puts them
left/right or top/bottom. Each image gets several captions from a template grammar with
synonyms, so two captions of one image rarely share their words:

    "a small red circle on the left"            "there is a tiny crimson disc at the left side"
    "a big blue square at the top and a yellow triangle at the bottom"

Size words are left out of some captions (as people do), so a caption may fit more than one scene.

>>> splits = make_shapes_splits(seed=0)
>>> train = splits["train"]
>>> train.images.shape, len(train.captions), train.caption_image[:3]
((600, 3, 24, 24), 3000, array([0, 0, 0]))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.12, 0.10),
    "green": (0.10, 0.75, 0.15),
    "blue": (0.15, 0.30, 0.95),
    "yellow": (0.95, 0.85, 0.10),
}
SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom")
PAIRED_POSITIONS = (("left", "right"), ("top", "bottom"))

# Words a caption may use for each attribute value (the first is the canonical word).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet"),
    "green": ("green", "emerald", "lime"),
    "blue": ("blue", "azure", "cobalt"),
    "yellow": ("yellow", "golden", "lemon"),
    "circle": ("circle", "disc", "dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge", "pyramid"),
    "small": ("small", "tiny", "little"),
    "large": ("large", "big", "huge"),
    "left": ("on the left", "at the left side", "to the left"),
    "right": ("on the right", "at the right side", "to the right"),
    "top": ("at the top", "near the top", "in the upper part"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part"),
}
OPENINGS = ("{}", "a picture of {}", "there is {}", "an image showing {}", "{} on a dark background")
ARTICLES = ("a", "one")


@dataclass(frozen=True)
class ShapeObject:
    colour: str
    shape: str
    size: str
    position: str

    def matches(self, colour: str | None = None, shape: str | None = None, size: str | None = None,
                position: str | None = None) -> bool:
        """True when every attribute given (None = any) equals this object's."""
        wanted = {"colour": colour, "shape": shape, "size": size, "position": position}
        return all(v is None or getattr(self, k) == v for k, v in wanted.items())


Scene = tuple[ShapeObject, ...]  # objects sorted by position name, so equal scenes compare equal


@dataclass
class ShapesData:
    """One split: images, their scenes, and several captions per image.

    images:        (N, 3, H, W) float32 in [0, 1]
    scenes:        N tuples of ShapeObject (the ground truth behind each image)
    captions:      N · captions_per_image strings
    caption_image: (N · captions_per_image,) int64, the image each caption describes
    """

    images: np.ndarray
    scenes: list[Scene]
    captions: list[str]
    caption_image: np.ndarray
    captions_per_image: int = field(default=5)

    def __len__(self) -> int:
        return len(self.scenes)

    def relevance(self) -> np.ndarray:
        """(num_captions, N) bool: True where a caption's own image is (the paired convention)."""
        rel = np.zeros((len(self.captions), len(self)), dtype=bool)
        rel[np.arange(len(self.captions)), self.caption_image] = True
        return rel


# ----------------------------------------------------------------------------- scenes and captions
def random_scene(rng: np.random.Generator, two_object_prob: float = 0.4) -> Scene:
    """One scene: one object anywhere, or two objects left/right or top/bottom."""

    def obj(position: str) -> ShapeObject:
        return ShapeObject(str(rng.choice(list(COLOURS))), str(rng.choice(SHAPES)), str(rng.choice(SIZES)), position)

    if rng.random() < two_object_prob:
        pair = PAIRED_POSITIONS[rng.integers(len(PAIRED_POSITIONS))]
        return tuple(sorted((obj(pair[0]), obj(pair[1])), key=lambda o: o.position))
    return (obj(str(rng.choice(POSITIONS))),)


def describe_object(obj: ShapeObject, rng: np.random.Generator, with_size: bool = True,
                    with_position: bool = True) -> str:
    """'a small crimson disc on the left', with synonyms drawn from `rng`."""
    words = [str(rng.choice(ARTICLES))]
    if with_size:
        words.append(str(rng.choice(SYNONYMS[obj.size])))
    words += [str(rng.choice(SYNONYMS[obj.colour])), str(rng.choice(SYNONYMS[obj.shape]))]
    if with_position:
        words.append(str(rng.choice(SYNONYMS[obj.position])))
    return " ".join(words)


def caption_scene(scene: Scene, rng: np.random.Generator, size_prob: float = 0.7) -> str:
    """One caption naming every object's colour, shape and position (size with `size_prob`)."""
    order = rng.permutation(len(scene))
    parts = [describe_object(scene[i], rng, with_size=bool(rng.random() < size_prob)) for i in order]
    return str(rng.choice(OPENINGS)).format(" and ".join(parts))


def query_for(colour: str, shape: str, position: str) -> str:
    """The canonical compositional query, e.g. 'a red circle on the left'."""
    return f"a {colour} {shape} {SYNONYMS[position][0]}"


def scene_matches(scene: Scene, colour: str | None = None, shape: str | None = None, size: str | None = None,
                  position: str | None = None) -> bool:
    """True when some object of the scene has all the given attributes."""
    return any(o.matches(colour, shape, size, position) for o in scene)


# ----------------------------------------------------------------------------- rendering
def _centre(position: str, size: int, rng: np.random.Generator, jitter: float) -> tuple[float, float]:
    """(row, column) of an object's centre: a third of the way in from its side, jittered."""
    near, mid, far = size / 4, size / 2, 3 * size / 4
    row, col = {"left": (mid, near), "right": (mid, far), "top": (near, mid), "bottom": (far, mid)}[position]
    j = jitter * size / 24
    return row + rng.uniform(-j, j), col + rng.uniform(-j, j)


def _mask(shape: str, row: float, col: float, radius: float, size: int) -> np.ndarray:
    rr, cc = np.mgrid[0:size, 0:size] + 0.5
    dy, dx = rr - row, cc - col
    if shape == "circle":
        return dy**2 + dx**2 <= radius**2
    if shape == "square":
        half = radius * 0.85  # a square of equal area looks as big as the circle
        return (np.abs(dy) <= half) & (np.abs(dx) <= half)
    # triangle pointing up: apex at the top, base at the bottom
    height = 2 * radius
    t = (dy + radius) / height  # 0 at the apex, 1 at the base
    return (t >= 0) & (t <= 1) & (np.abs(dx) <= t * radius * 1.1)


def render_scene(scene: Scene, rng: np.random.Generator, image_size: int = 24, noise: float = 0.05,
                 jitter: float = 2.0) -> np.ndarray:
    """(3, image_size, image_size) float32 image of a scene."""
    image = np.full((3, image_size, image_size), 0.12, dtype=np.float32)
    for obj in scene:
        radius = (4.0 if obj.size == "small" else 6.0) * image_size / 24
        row, col = _centre(obj.position, image_size, rng, jitter)
        colour = np.clip(np.asarray(COLOURS[obj.colour]) + rng.normal(0, 0.04, size=3), 0, 1)
        mask = _mask(obj.shape, row, col, radius, image_size)
        image[:, mask] = colour[:, None]
    image += rng.normal(0, noise, size=image.shape).astype(np.float32)
    return np.clip(image, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------- datasets
def make_shapes(num_images: int, seed: int, image_size: int = 24, captions_per_image: int = 5,
                two_object_prob: float = 0.4, size_prob: float = 0.7, distinct: bool = False) -> ShapesData:
    """`num_images` images with `captions_per_image` captions each, all drawn from `seed`.

    distinct=True draws scenes without repeats (an evaluation gallery where the paired image is
    the only exact match); there are 96 one-object and 1,152 two-object scenes in all.
    """
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or num_images < 1:
        raise ValueError(f"num_images must be a positive integer, got {num_images!r}")
    if not isinstance(captions_per_image, (int, np.integer)) or captions_per_image < 1:
        raise ValueError(f"captions_per_image must be a positive integer, got {captions_per_image!r}")
    if not isinstance(image_size, (int, np.integer)) or image_size < 12:
        raise ValueError(f"image_size must be an integer >= 12, got {image_size!r}")
    if not 0.0 <= two_object_prob <= 1.0 or not 0.0 <= size_prob <= 1.0:
        raise ValueError("two_object_prob and size_prob must lie in [0, 1]")
    if distinct and num_images > 1000:
        raise ValueError(f"distinct=True allows at most 1000 images, got {num_images}")
    rng = np.random.default_rng(seed)
    scenes: list[Scene] = []
    seen: set[Scene] = set()
    while len(scenes) < num_images:
        scene = random_scene(rng, two_object_prob)
        if distinct:
            if scene in seen:
                continue
            seen.add(scene)
        scenes.append(scene)
    images = np.stack([render_scene(s, rng, image_size) for s in scenes])
    captions = [caption_scene(s, rng, size_prob) for s in scenes for _ in range(captions_per_image)]
    caption_image = np.repeat(np.arange(num_images, dtype=np.int64), captions_per_image)
    return ShapesData(images, scenes, captions, caption_image, int(captions_per_image))


SPLIT_SEED_OFFSETS = {"train": 0, "val": 1, "test": 2}


def make_shapes_splits(seed: int = 0, num_train: int = 600, num_val: int = 100, num_test: int = 100,
                       image_size: int = 24, captions_per_image: int = 5) -> dict[str, ShapesData]:
    """Train/val/test splits drawn from independent streams of `seed`.

    Validation and test galleries hold distinct scenes (so Recall@K with the paired convention is
    not capped by identical twins); the training split may repeat scenes with new renderings.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sizes = {"train": num_train, "val": num_val, "test": num_test}
    return {
        name: make_shapes(n, np.random.SeedSequence([int(seed), SPLIT_SEED_OFFSETS[name]]).generate_state(1)[0].item(),
                          image_size=image_size, captions_per_image=captions_per_image, distinct=name != "train")
        for name, n in sizes.items()
    }
