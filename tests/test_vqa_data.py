"""The synthetic visual questions (mmprep.data.vqa): answers true to the scene, balanced, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from mmprep.data.shapes import scene_matches
from mmprep.data.vqa import (
    ANSWERS,
    EOS_ID,
    IMAGE_ID,
    PAD_ID,
    POSITION_PHRASES,
    QUESTION_TYPES,
    VOCAB,
    decode,
    encode,
    make_vqa,
)


def test_special_tokens_and_vocabulary():
    assert (VOCAB[PAD_ID], VOCAB[IMAGE_ID], VOCAB[EOS_ID]) == ("<pad>", "<image>", "<eos>")
    assert len(set(VOCAB)) == len(VOCAB)
    for answers in ANSWERS.values():
        assert all(len(encode(a)) == 1 for a in answers), "every answer is one word"


def test_encode_decode_round_trip_and_unknown_words():
    ids = encode("what colour is the shape on the left?")
    assert decode(ids) == "what colour is the shape on the left"
    assert decode([*encode("red"), EOS_ID, *encode("blue")]) == "red", "decoding stops at <eos>"
    assert decode([PAD_ID, *encode("two")]) == "two", "padding is skipped"
    with pytest.raises(ValueError, match="purple"):
        encode("is there a purple circle")


def test_answers_are_true_to_the_scene():
    data = make_vqa(80, seed=3)
    assert data.images.shape == (80, 3, 24, 24)
    assert len(data) == 4 * 80 and data.question_types[:4] == list(QUESTION_TYPES)
    for q, a, kind, i in zip(data.questions, data.answers, data.question_types, data.image_index):
        scene = data.scenes[i]
        assert a in ANSWERS[kind]
        encode(q)  # every question stays inside the vocabulary
        if kind in ("colour", "shape"):
            position = next(p for p, phrase in POSITION_PHRASES.items() if q.endswith(phrase))
            obj = next(o for o in scene if o.position == position)
            assert a == (obj.colour if kind == "colour" else obj.shape), q
        elif kind == "count":
            assert a == ("one" if len(scene) == 1 else "two")
        else:
            colour, shape = q.split()[-2:]
            assert (a == "yes") == scene_matches(scene, colour=colour, shape=shape), q


def test_existence_questions_are_balanced_and_reproducible():
    data = make_vqa(400, seed=0)
    exists = np.array(data.answers)[data.of_type("exists")]
    assert 0.4 < np.mean(exists == "yes") < 0.6
    again = make_vqa(400, seed=0)
    assert again.questions == data.questions and np.array_equal(again.images, data.images)
    assert make_vqa(400, seed=1).questions != data.questions
    assert np.mean(np.array(make_vqa(200, seed=0, absent_prob=1.0).answers)[make_vqa(200, seed=0).of_type("exists")]
                   == "no") == 1.0
