"""The coloured-shapes generator and the word tokenizer behind the retrieval topic."""

from __future__ import annotations

import numpy as np
import pytest

from mmprep.data.shapes import (
    COLOURS,
    POSITIONS,
    SHAPES,
    SYNONYMS,
    ShapeObject,
    make_shapes,
    make_shapes_splits,
    query_for,
    render_scene,
    scene_matches,
)
from mmprep.text import PAD_ID, UNK_ID, WordTokenizer, split_words


# ----------------------------------------------------------------------------- data
def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_shapes(20, 5), make_shapes(20, 5), make_shapes(20, 6)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.captions == b.captions and a.scenes == b.scenes
    assert not np.array_equal(a.images, c.images)


def test_shapes_and_ranges():
    data = make_shapes(12, 0, image_size=32, captions_per_image=3)
    assert data.images.shape == (12, 3, 32, 32) and data.images.dtype == np.float32
    assert 0.0 <= data.images.min() and data.images.max() <= 1.0
    assert len(data.captions) == 36
    np.testing.assert_array_equal(data.caption_image, np.repeat(np.arange(12), 3))
    rel = data.relevance()
    assert rel.shape == (36, 12) and (rel.sum(axis=1) == 1).all() and (rel.sum(axis=0) == 3).all()


def test_splits_are_independent_and_galleries_distinct():
    splits = make_shapes_splits(seed=1, num_train=50, num_val=40, num_test=40)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [50, 40, 40]
    assert not np.array_equal(splits["val"].images, splits["test"].images)
    for name in ("val", "test"):
        assert len(set(splits[name].scenes)) == 40, f"{name} gallery repeats a scene"


def canonical_words(obj: ShapeObject) -> dict[str, set[str]]:
    return {attr: set(" ".join(SYNONYMS[getattr(obj, attr)]).split()) for attr in ("colour", "shape", "position")}


def test_every_caption_names_colour_shape_and_position_of_every_object():
    data = make_shapes(60, 3)
    for caption, image in zip(data.captions, data.caption_image):
        words = set(split_words(caption))
        for obj in data.scenes[image]:
            for attr, options in canonical_words(obj).items():
                assert words & (options - {"on", "the", "at", "to", "in", "part", "side", "near"}), (caption, attr)


def test_synonyms_vary_the_captions_of_one_image():
    data = make_shapes(30, 4, captions_per_image=5)
    distinct = [len(set(data.captions[i * 5:(i + 1) * 5])) for i in range(30)]
    assert np.mean(distinct) > 3.5


def test_rendered_object_has_its_colour_on_its_side():
    rng = np.random.default_rng(0)
    for colour in COLOURS:
        for position in POSITIONS:
            obj = ShapeObject(colour, "square", "large", position)
            image = render_scene((obj,), rng, image_size=24, noise=0.0, jitter=0.0)
            mask = np.abs(image - np.asarray(COLOURS[colour])[:, None, None]).max(axis=0) < 0.2
            assert mask.sum() > 20, (colour, position)
            rows, cols = np.nonzero(mask)
            centre = {"left": cols.mean() < 12, "right": cols.mean() > 12, "top": rows.mean() < 12,
                      "bottom": rows.mean() > 12}
            assert centre[position], (colour, position, rows.mean(), cols.mean())


def test_shapes_render_differently():
    rng = np.random.default_rng(0)
    areas = {}
    for shape in SHAPES:
        image = render_scene((ShapeObject("red", shape, "large", "left"),), rng, noise=0.0, jitter=0.0)
        areas[shape] = int((image[0] > 0.5).sum())
    assert len(set(areas.values())) == 3, areas
    assert areas["triangle"] < areas["circle"], areas


def test_distinct_gallery_of_all_one_object_scenes():
    data = make_shapes(96, 2, distinct=True, two_object_prob=0.0)
    assert len(set(data.scenes)) == 96  # every colour x shape x size x position once


def test_scene_matches_and_query():
    scene = (ShapeObject("red", "circle", "small", "left"), ShapeObject("blue", "square", "large", "right"))
    assert scene_matches(scene, "red", "circle", None, "left")
    assert not scene_matches(scene, "red", "square", None, "left")  # colour and shape belong to different objects
    assert query_for("red", "circle", "left") == "a red circle on the left"


@pytest.mark.parametrize("kwargs", [{"num_images": 0, "seed": 0}, {"num_images": 5, "seed": 0, "image_size": 8},
                                    {"num_images": 1001, "seed": 0, "distinct": True},
                                    {"num_images": 5, "seed": 0, "captions_per_image": 0}])
def test_make_shapes_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_shapes(**kwargs)


# ----------------------------------------------------------------------------- tokenizer
def test_vocabulary_comes_from_training_captions_only():
    train = make_shapes_splits(seed=0, num_train=100, num_val=10, num_test=10)["train"]
    tok = WordTokenizer.from_texts(train.captions)
    assert tok.vocab[:2] == ["<pad>", "<unk>"]
    assert set(tok.vocab[2:]) == {w for c in train.captions for w in split_words(c)}
    assert tok.encode("a purple hexagon") == [tok.word_to_id["a"], UNK_ID, UNK_ID]


def test_min_freq_sends_rare_words_to_unk():
    tok = WordTokenizer.from_texts(["a red circle", "a red square", "a blue square"], min_freq=2)
    assert tok.vocab == ["<pad>", "<unk>", "a", "red", "square"]
    assert tok.encode("a blue circle") == [2, UNK_ID, UNK_ID]


def test_batch_padding_and_lengths():
    tok = WordTokenizer.from_texts(["a red circle on the left"])
    ids, lengths = tok(["A red circle, on the LEFT!", "red", ""])
    assert ids.shape == (3, 6) and ids.dtype == np.int64
    np.testing.assert_array_equal(lengths, [6, 1, 0])
    assert (ids[1, 1:] == PAD_ID).all() and (ids[2] == PAD_ID).all()
    assert tok.decode(ids[0]) == "a red circle on the left"
    cut, cut_lengths = tok(["a red circle on the left"], max_len=3)
    assert cut.shape == (1, 3) and cut_lengths.tolist() == [3]


def test_save_and_load_round_trip(tmp_path):
    tok = WordTokenizer.from_texts(["a red circle", "a big blue square"])
    tok.save(tmp_path / "tok.json")
    again = WordTokenizer.load(tmp_path / "tok.json")
    assert again.vocab == tok.vocab and len(again) == len(tok)


def test_tokenizer_rejects_bad_input():
    with pytest.raises(TypeError):
        WordTokenizer.from_texts("a red circle")  # one string, not a list of captions
    with pytest.raises(ValueError):
        WordTokenizer.from_texts(["a"], min_freq=0)
    with pytest.raises(ValueError):
        WordTokenizer(["a", "b"])


# ----------------------------------------------------------------------------- the graded composition statistic
def test_shape_pairs_won_is_one_half_for_a_shape_blind_ranking():
    """Hand-worked: 96 one-object scenes, 48 queries; each query has 2 matches and 4 same-place other-shape images."""
    from autograder.checks.test_retrieval import held_out, shape_pairs_won

    _, single, combos, _ = held_out(11)
    scenes = single.scenes
    agrees = np.array([[scene_matches(s, c, sh, None, p) for s in scenes] for c, sh, p in combos], dtype=float)
    same_place = np.array([[scene_matches(s, c, None, None, p) for s in scenes] for c, _, p in combos], dtype=float)
    assert agrees.sum(axis=1).tolist() == [2.0] * 48 and same_place.sum(axis=1).tolist() == [6.0] * 48
    assert shape_pairs_won(agrees, scenes, combos) == 1.0
    assert shape_pairs_won(-agrees, scenes, combos) == 0.0
    assert shape_pairs_won(same_place, scenes, combos) == 0.5, "ties count one half"
    # blind to shape but not to size: the large image of each place first, whatever its shape
    by_size = same_place * np.array([1.0 + (s[0].size == "large") for s in scenes])
    assert shape_pairs_won(by_size, scenes, combos) == 0.5
    # one query in 48 wrong on one of its 8 pairs
    one_off = agrees.copy()
    q = 0
    other = np.flatnonzero(same_place[q] - agrees[q])[0]
    one_off[q, other] = 2.0
    assert shape_pairs_won(one_off, scenes, combos) == pytest.approx(1 - 2 / 384)


# ----------------------------------------------------------------------------- premises of the graded checks
def test_moved_object_pairs_fool_exactly_the_encoders_that_pool_everything():
    """The ImageEncoder check's images: global pooling maps both images of a pair to one vector, a grid does not."""
    import torch
    from torch import nn

    from autograder.checks.test_retrieval import moved_object_images
    from solutions.retrieval import ImageEncoder

    images = torch.tensor(moved_object_images(np.random.default_rng(0)))
    for pool, keeps_places in ((nn.AdaptiveAvgPool2d(1), False), (nn.AdaptiveMaxPool2d(1), False),
                               (nn.AdaptiveMaxPool2d(3), True), (nn.AdaptiveAvgPool2d(3), True)):
        for seed in range(3):
            torch.manual_seed(seed)
            encoder = ImageEncoder(16).eval()
            encoder.features[-1] = pool
            with torch.no_grad():
                features = encoder.features(images).flatten(1).double()
            change = (features[0::2] - features[1::2]).norm(dim=1) / features[0::2].norm(dim=1)
            if keeps_places:
                assert change.min() > 1e-2, (pool, seed, change)
            else:
                assert change.max() < 1e-6, (pool, seed, change)


@pytest.mark.parametrize("use_malloc", [True, False], ids=["malloc", "resident-set"])
def test_memory_sampler_sees_a_held_buffer_and_not_a_small_one(use_malloc):
    from autograder.probes.retrieval import _hold, _MemorySampler

    sampler = _MemorySampler(use_malloc=use_malloc)
    assert sampler.source == ("malloc" if use_malloc else "resident set")
    try:
        big = sampler.measure(lambda: _hold(96 * 2**20, 0.05))
        small = sampler.measure(lambda: _hold(2**20, 0.05))
    finally:
        sampler.close()
    assert 90 <= (big["peak"] - big["base"]) / 2**20 < 140 and big["samples"] > 0
    assert (small["peak"] - small["base"]) / 2**20 < 40
