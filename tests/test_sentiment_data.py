"""The synthetic CMU-MOSI-like dataset (mmprep.data.sentiment): determinism, masks, collate, labels, sarcasm."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmprep.data.sentiment import (
    FEATURE_DIMS,
    MODALITIES,
    VOCAB,
    batch_to_device,
    collate_sentiment,
    feature_dims,
    lexicon_sentiment,
    make_sentiment_data,
    pad_sequences,
)
from tests.conftest import TEST_SEED


@pytest.fixture(scope="module")
def data():
    return make_sentiment_data(500, TEST_SEED)


def test_same_seed_same_data_other_seed_other_data(data):
    again = make_sentiment_data(500, TEST_SEED)
    assert again.words == data.words
    np.testing.assert_array_equal(again.labels, data.labels)
    np.testing.assert_array_equal(again.sarcastic, data.sarcastic)
    for m in MODALITIES:
        for a, b in zip(again.features[m], data.features[m]):
            np.testing.assert_array_equal(a, b)
    other = make_sentiment_data(500, TEST_SEED + 1)
    assert not np.array_equal(other.labels, data.labels)


def test_generation_ignores_global_random_state():
    torch.manual_seed(1)
    np.random.seed(1)
    first = make_sentiment_data(50, 3)
    torch.manual_seed(2)
    np.random.seed(2)
    second = make_sentiment_data(50, 3)
    np.testing.assert_array_equal(first.features["audio"][7], second.features["audio"][7])


def test_items_have_the_documented_shapes_and_are_unaligned(data):
    item = data[0]
    assert set(item["features"]) == set(MODALITIES)
    for m in MODALITIES:
        x = item["features"][m]
        assert x.dtype == torch.float32 and x.dim() == 2 and x.shape[1] == FEATURE_DIMS[m], (m, x.shape)
    assert feature_dims() == FEATURE_DIMS and feature_dims(["audio", "text"]) == {"audio": 5, "text": len(VOCAB)}
    lengths = np.stack([data.lengths(m) for m in MODALITIES])
    assert (lengths >= 1).all()
    assert (lengths[0] != lengths[1]).mean() > 0.9 and (lengths[1] != lengths[2]).mean() > 0.9, "modalities are unaligned"
    # text features are one-hot rows of the word ids
    np.testing.assert_array_equal(data.features["text"][5].argmax(1), data.token_ids[5])
    assert [VOCAB[i] for i in data.token_ids[5]] == data.words[5]
    assert (data.features["vision"][0] >= 0).all() and (data.features["vision"][0] <= 5).all()


def test_labels_on_the_mosi_grid(data):
    y = data.labels
    assert y.dtype == np.float32 and y.shape == (500,)
    assert y.min() >= -3 and y.max() <= 3
    np.testing.assert_allclose(y * 3, np.round(y * 3), atol=1e-5)
    assert 0.02 < np.mean(y == 0) < 0.2, "some exact zeros, as in MOSI"
    assert 0.3 < np.mean(y > 0) < 0.7


@pytest.mark.parametrize("share", [0.0, 0.2, 0.35])
def test_sarcastic_share_is_exact_and_words_contradict_the_label(share):
    d = make_sentiment_data(300, TEST_SEED, sarcastic_share=share)
    assert d.sarcastic.sum() == round(share * 300)
    assert (d.labels[d.sarcastic] != 0).all(), "a neutral statement cannot be sarcastic"
    np.testing.assert_array_equal(d.text_sentiment, np.where(d.sarcastic, -d.labels, d.labels))
    reading = np.array([lexicon_sentiment(w) for w in d.words])
    assert np.abs(reading - d.text_sentiment).max() <= 1 / 6 + 1e-6, "the words say text_sentiment (to half a point)"


def test_text_only_reading_misses_exactly_the_sarcastic_signs(data):
    reading = np.array([lexicon_sentiment(w) for w in data.words])
    nonzero = data.labels != 0
    wrong_sign = np.sign(reading) != np.sign(data.labels)
    np.testing.assert_array_equal(wrong_sign[nonzero], data.sarcastic[nonzero])


def test_negation_flips_the_next_word():
    assert lexicon_sentiment(["not", "bad"]) == 0.5 and lexicon_sentiment(["bad"]) == -0.5
    assert lexicon_sentiment(["not", "the", "bad"]) == -0.5, "a negation only reaches the word right after it"
    assert lexicon_sentiment(["the", "plot"]) == 0.0


def test_pad_sequences_masks_true_on_padding():
    seqs = [np.ones((3, 2), np.float32), 2 * np.ones((1, 2), np.float32)]
    x, mask = pad_sequences(seqs)
    assert x.shape == (2, 3, 2) and mask.dtype == bool
    np.testing.assert_array_equal(mask, [[False, False, False], [False, True, True]])
    assert (x[1, 1:] == 0).all() and (x[1, 0] == 2).all()
    x, mask = pad_sequences(seqs, length=5)
    assert x.shape == (2, 5, 2) and mask[0].sum() == 2
    with pytest.raises(ValueError, match="length"):
        pad_sequences(seqs, length=2)
    with pytest.raises(ValueError):
        pad_sequences([np.zeros((0, 2), np.float32)])


def test_collate_for_a_dataloader(data):
    loader = torch.utils.data.DataLoader(data, batch_size=16, shuffle=False, collate_fn=collate_sentiment)
    batch = next(iter(loader))
    assert set(batch) == {"features", "padding_masks", "labels", "sarcastic"}
    for m in MODALITIES:
        x, mask = batch["features"][m], batch["padding_masks"][m]
        assert x.shape[0] == 16 and x.shape[2] == FEATURE_DIMS[m] and mask.shape == x.shape[:2] and mask.dtype == torch.bool
        np.testing.assert_array_equal((~mask).sum(1).numpy(), data.lengths(m)[:16])
        assert x.shape[1] == data.lengths(m)[:16].max()
        assert (x[mask] == 0).all()
    np.testing.assert_array_equal(batch["labels"].numpy(), data.labels[:16])
    np.testing.assert_array_equal(batch["sarcastic"].numpy(), data.sarcastic[:16])
    features, masks = data.subset(np.arange(16)).padded()
    for m in MODALITIES:
        np.testing.assert_array_equal(features[m], batch["features"][m].numpy())
        np.testing.assert_array_equal(masks[m], batch["padding_masks"][m].numpy())


def test_subset_keeps_everything_aligned(data):
    part = data.subset(data.sarcastic)
    assert len(part) == int(data.sarcastic.sum()) and part.sarcastic.all()
    first = int(np.flatnonzero(data.sarcastic)[0])
    assert part.words[0] == data.words[first]
    np.testing.assert_array_equal(part.features["vision"][0], data.features["vision"][first])


def test_bad_arguments_raise_value_error():
    for kwargs in ({"n": 0, "seed": 0}, {"n": 10, "seed": -1}, {"n": 10, "seed": 0, "sarcastic_share": 0.9}):
        with pytest.raises(ValueError):
            make_sentiment_data(**kwargs)
    with pytest.raises(ValueError, match="modalities"):
        feature_dims(["text", "smell"])


def test_same_data_on_cpu_and_gpu(data, cli_device):
    """The data is generated with NumPy; a batch moved to any device holds the same numbers."""
    batch = collate_sentiment([data[i] for i in range(8)])
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        moved = batch_to_device(batch, device)
        assert moved["features"]["audio"].device.type == device and moved["padding_masks"]["text"].device.type == device
        for m in MODALITIES:
            assert torch.equal(moved["features"][m].cpu(), batch["features"][m])
            assert torch.equal(moved["padding_masks"][m].cpu(), batch["padding_masks"][m])
        assert torch.equal(moved["labels"].cpu(), batch["labels"])
