"""A synthetic CMU-MOSI-like dataset: unaligned text, audio and vision, sentiment labels in [-3, 3].

Every utterance has three sequences, each of its own length (nothing is word-aligned):

* text:   word ids over a small vocabulary (neutral words, weak/strong positive and negative
          words, negations). The features are one-hot rows, (L_text, vocab_size), standing in
          for the GloVe vectors MOSI ships. "not bad" is a weak positive phrase: word order matters.
* audio:  prosody-like frames, (L_audio, 5): pitch, pitch variability, energy, speech rate, jitter.
* vision: facial-action-unit-like intensities, (L_vision, 6): AU06 cheek raiser, AU12 lip corner
          puller (smile), AU04 brow lowerer, AU15 lip corner depressor (frown), AU01, AU45 (blink).

The label y is on MOSI's grid of thirds in [-3, 3] (about 8 % exact zeros). The words say y:
their polarity gives its sign and the number/strength of sentiment words its size (about half a
point of resolution). Voice and face show the sign clearly but the size only roughly (speaker
offsets, expressions of random duration). A known share of utterances is *sarcastic*: the words
say -y, voice and face say y, and the label follows voice and face. A text-only model therefore
misses the sign of every sarcastic utterance, while a model that reads all three can take the
size from the words and the sign from voice and face.

Generation uses NumPy only, from one seed: the data is the same on every machine and device
(move batches with `batch_to_device`).

    data = make_sentiment_data(800, seed=0)
    loader = DataLoader(data, batch_size=32, shuffle=True, collate_fn=collate_sentiment)
    batch = next(iter(loader))   # batch["features"]["audio"]: (32, L_audio_max, 5), ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

MODALITIES = ("text", "audio", "vision")
PAD = "<pad>"
NEUTRAL_WORDS = ("i", "the", "movie", "film", "was", "is", "it", "this", "and", "plot", "actors", "story",
                 "really", "just", "kind", "of", "a", "ending", "music", "scenes")
# word strength: 1 weak, 2 medium, 3 strong (half a point of sentiment each)
POSITIVE_WORDS = {"good": 1, "nice": 1, "fine": 1, "great": 2, "enjoyable": 2, "lovely": 2,
                  "amazing": 3, "excellent": 3, "loved": 3}
NEGATIVE_WORDS = {"bad": 1, "dull": 1, "weak": 1, "boring": 2, "poor": 2, "annoying": 2,
                  "terrible": 3, "awful": 3, "hated": 3}
NEGATIONS = ("not", "never")
VOCAB = (PAD, *NEUTRAL_WORDS, *POSITIVE_WORDS, *NEGATIVE_WORDS, *NEGATIONS)
WORD_TO_ID = {w: i for i, w in enumerate(VOCAB)}
AUDIO_FEATURES = ("pitch", "pitch_variability", "energy", "speech_rate", "jitter")
VISION_FEATURES = ("AU06_cheek_raiser", "AU12_lip_corner_puller", "AU04_brow_lowerer",
                   "AU15_lip_corner_depressor", "AU01_inner_brow_raiser", "AU45_blink")
FEATURE_DIMS = {"text": len(VOCAB), "audio": len(AUDIO_FEATURES), "vision": len(VISION_FEATURES)}

# sequence lengths, inclusive ranges (MOSI's are longer; these keep CPU training to seconds)
TEXT_LENGTH = (4, 10)
AUDIO_LENGTH = (16, 40)
VISION_LENGTH = (10, 28)


def feature_dims(modalities: Sequence[str] = MODALITIES) -> dict[str, int]:
    """{modality: feature size} — the `input_dims` a model for this data takes."""
    _check_modalities(modalities)
    return {m: FEATURE_DIMS[m] for m in modalities}


def _check_modalities(modalities: Sequence[str]) -> None:
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities:
        raise ValueError(f"modalities must be a non-empty subset of {MODALITIES}, got {list(modalities)}")


@dataclass
class SentimentDataset(torch.utils.data.Dataset):
    """N utterances. Item i is {"features": {m: (L_m, D_m) float32 tensor}, "label": float, "sarcastic": bool}.

    words:     N lists of words (no padding).
    token_ids: N int64 arrays of word ids into VOCAB.
    features:  {modality: N float32 arrays (L_m_i, D_m)}; lengths differ per modality and utterance.
    labels:    (N,) float32 in [-3, 3], multiples of 1/3.
    sarcastic: (N,) bool: the words contradict the label.
    text_sentiment: (N,) float32, what the words alone say (= -label for sarcastic utterances).
    """

    words: list[list[str]]
    token_ids: list[np.ndarray]
    features: dict[str, list[np.ndarray]]
    labels: np.ndarray
    sarcastic: np.ndarray
    text_sentiment: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {
            "features": {m: torch.from_numpy(seqs[i]) for m, seqs in self.features.items()},
            "label": float(self.labels[i]),
            "sarcastic": bool(self.sarcastic[i]),
        }

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.features)

    def lengths(self, modality: str) -> np.ndarray:
        """(N,) sequence lengths of one modality."""
        return np.array([len(s) for s in self.features[modality]], dtype=np.int64)

    def subset(self, index) -> SentimentDataset:
        """The utterances at `index` (an int array or a boolean mask), as a new dataset."""
        idx = np.arange(len(self))[index]
        return SentimentDataset(
            words=[self.words[i] for i in idx],
            token_ids=[self.token_ids[i] for i in idx],
            features={m: [seqs[i] for i in idx] for m, seqs in self.features.items()},
            labels=self.labels[idx], sarcastic=self.sarcastic[idx], text_sentiment=self.text_sentiment[idx],
        )

    def padded(self, modalities: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The whole set as NumPy arrays: ({m: (N, L_max, D_m) float32}, {m: (N, L_max) bool, True = padding})."""
        modalities = self.modalities if modalities is None else tuple(modalities)
        features, masks = {}, {}
        for m in modalities:
            features[m], masks[m] = pad_sequences(self.features[m])
        return features, masks


def pad_sequences(sequences: Sequence[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack (L_i, D) arrays into (B, L, D) with zeros after each sequence, and its (B, L) padding mask.

    The mask is True where a step is padding (PyTorch's `key_padding_mask` convention: True = ignore).
    `length` defaults to the longest sequence.
    """
    if not sequences:
        raise ValueError("sequences must not be empty")
    lengths = [len(s) for s in sequences]
    if min(lengths) < 1:
        raise ValueError("every sequence needs at least one step (an all-padding row has no attention target)")
    length = max(lengths) if length is None else int(length)
    if length < max(lengths):
        raise ValueError(f"length={length} is shorter than the longest sequence ({max(lengths)})")
    dim = np.asarray(sequences[0]).shape[1]
    out = np.zeros((len(sequences), length, dim), dtype=np.float32)
    mask = np.ones((len(sequences), length), dtype=bool)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = seq
        mask[i, : len(seq)] = False
    return out, mask


def collate_sentiment(items: Sequence[Mapping]) -> dict:
    """DataLoader `collate_fn`: pad each modality to its longest sequence in the batch.

    Returns {"features": {m: (B, L_m, D_m) float32}, "padding_masks": {m: (B, L_m) bool, True = padding},
             "labels": (B,) float32, "sarcastic": (B,) bool} — all CPU tensors.
    """
    if not items:
        raise ValueError("items must not be empty")
    features, masks = {}, {}
    for m in items[0]["features"]:
        padded, mask = pad_sequences([item["features"][m].numpy() for item in items])
        features[m], masks[m] = torch.from_numpy(padded), torch.from_numpy(mask)
    return {
        "features": features,
        "padding_masks": masks,
        "labels": torch.tensor([item["label"] for item in items], dtype=torch.float32),
        "sarcastic": torch.tensor([item["sarcastic"] for item in items], dtype=torch.bool),
    }


def batch_to_device(batch: Mapping, device: str | torch.device) -> dict:
    """The same batch with every tensor (nested dicts too) on `device`."""
    def move(value):
        if isinstance(value, torch.Tensor):
            return value.to(device)
        if isinstance(value, Mapping):
            return {k: move(v) for k, v in value.items()}
        return value

    return move(batch)


def lexicon_sentiment(words: Sequence[str]) -> float:
    """What the words alone say, read perfectly: (sum of signed word strengths) / 2, a negation flipping the next word.

    The best a text-only model can do on this data (up to the rounding to half points): it is
    right about the size of every utterance and wrong about the sign of every sarcastic one.
    """
    total, negated = 0.0, False
    for word in words:
        if word in NEGATIONS:
            negated = True
            continue
        value = POSITIVE_WORDS.get(word, 0) - NEGATIVE_WORDS.get(word, 0)
        if value:
            total += -value if negated else value
        negated = False
    return total / 2


# ----------------------------------------------------------------------------- generation
def _labels(rng: np.random.Generator, n: int) -> np.ndarray:
    """MOSI-like labels: multiples of 1/3 in [-3, 3], two humps around +-1.4 and a few exact zeros."""
    size = np.clip(np.abs(rng.normal(1.4, 0.8, size=n)), 1 / 3, 3)
    sign = rng.choice([-1.0, 1.0], size=n)
    sign[rng.random(n) < 0.08] = 0.0
    return np.round(sign * size * 3) / 3


def _sentence(rng: np.random.Generator, said: float) -> list[str]:
    """Words whose sentiment is `said`: sign from polarity, size from word strength (half-point steps).

    Strength total T = round(2 |said|) in 0..6: one word of strength T (1 weak, 2 medium, 3 strong)
    for T <= 3, else a strong word plus one of strength T - 3. A weak word is written as a negated
    opposite 30 % of the time ("not bad" reads like "fine"), so word order matters.
    """
    total = int(np.clip(np.round(2 * abs(said)), 0, 6))
    strengths = [total] if total <= 3 else [3, total - 3]
    positive = said > 0
    phrases: list[list[str]] = []
    for strength in strengths if total else []:
        if strength == 1 and rng.random() < 0.3:
            pool = NEGATIVE_WORDS if positive else POSITIVE_WORDS
            phrases.append([str(rng.choice(NEGATIONS)), str(rng.choice([w for w, v in pool.items() if v == 1]))])
        else:
            pool = POSITIVE_WORDS if positive else NEGATIVE_WORDS
            phrases.append([str(rng.choice([w for w, v in pool.items() if v == strength]))])
    n_words = sum(len(p) for p in phrases)
    length = max(int(rng.integers(TEXT_LENGTH[0], TEXT_LENGTH[1] + 1)), n_words + 1)
    filler = [str(w) for w in rng.choice(NEUTRAL_WORDS, size=length - n_words)]
    # scatter the phrases between neutral words, keeping each phrase's words together
    cuts = np.sort(rng.choice(len(filler) + 1, size=len(phrases), replace=True)).tolist()
    words: list[str] = []
    for start, stop, phrase in zip([0, *cuts], cuts, phrases):
        words.extend(filler[start:stop])
        words.extend(phrase)
    words.extend(filler[(cuts[-1] if cuts else 0):])
    return words


def _expression_window(rng: np.random.Generator, length: int) -> np.ndarray:
    """(length,) 0/1 envelope: the expression lasts 50-90 % of the frames, at a random place."""
    span = max(1, int(round(length * rng.uniform(0.5, 0.9))))
    start = int(rng.integers(0, length - span + 1))
    window = np.zeros(length, dtype=np.float32)
    window[start: start + span] = 1.0
    return window


def _audio(rng: np.random.Generator, valence: float, arousal: float) -> np.ndarray:
    length = int(rng.integers(AUDIO_LENGTH[0], AUDIO_LENGTH[1] + 1))
    speaker = rng.normal(0.0, 0.3, size=5)  # per-speaker baseline: does not average out over frames
    window = _expression_window(rng, length)[:, None]
    #              pitch    pitch var  energy   rate      jitter
    effect = np.array([0.9 * valence, 1.0 * arousal, 1.5 * arousal, 0.4 * valence, -0.6 * valence])
    frames = speaker + window * effect + rng.normal(0.0, 1.0, size=(length, 5))
    return frames.astype(np.float32)


def _vision(rng: np.random.Generator, valence: float) -> np.ndarray:
    length = int(rng.integers(VISION_LENGTH[0], VISION_LENGTH[1] + 1))
    window = _expression_window(rng, length)[:, None]
    smile, frown = max(valence, 0.0), max(-valence, 0.0)
    effect = np.array([0.9 * smile, 1.2 * smile, 0.9 * frown, 1.1 * frown, 0.0, 0.0])
    resting = rng.uniform(0.0, 1.0, size=6)  # per-face resting intensities
    frames = resting + window * effect + rng.normal(0.0, 0.7, size=(length, 6))
    frames[:, 5] += 2.5 * (rng.random(length) < 0.1)  # blinks
    return np.clip(frames, 0.0, 5.0).astype(np.float32)  # OpenFace intensities live in [0, 5]


def make_sentiment_data(n: int, seed: int, sarcastic_share: float = 0.2) -> SentimentDataset:
    """`n` synthetic utterances from `seed` (the same on every machine).

    sarcastic_share: share of ALL utterances that are sarcastic (exactly round(share * n), drawn
    among those with a non-zero label: a neutral statement cannot be sarcastic).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= float(sarcastic_share) <= 0.5:
        raise ValueError(f"sarcastic_share must be in [0, 0.5], got {sarcastic_share!r}")
    rng = np.random.default_rng(int(seed))
    labels = _labels(rng, int(n)).astype(np.float32)
    nonzero = np.flatnonzero(labels != 0)
    n_sarcastic = int(round(float(sarcastic_share) * n))
    if n_sarcastic > len(nonzero):
        raise ValueError(f"sarcastic_share={sarcastic_share} needs {n_sarcastic} non-zero labels, only {len(nonzero)} drawn")
    sarcastic = np.zeros(n, dtype=bool)
    sarcastic[rng.choice(nonzero, size=n_sarcastic, replace=False)] = True
    text_sentiment = np.where(sarcastic, -labels, labels).astype(np.float32)

    words, token_ids, audio, vision = [], [], [], []
    eye = np.eye(len(VOCAB), dtype=np.float32)
    text_features = []
    for y, said in zip(labels, text_sentiment):
        # voice and face show the sign clearly (even for small |y|) and the size roughly
        valence = float(np.sign(y)) * (0.6 + 0.4 * abs(float(y)) / 3)
        arousal = abs(float(y)) / 3
        sentence = _sentence(rng, float(said))
        ids = np.array([WORD_TO_ID[w] for w in sentence], dtype=np.int64)
        words.append(sentence)
        token_ids.append(ids)
        text_features.append(eye[ids])
        audio.append(_audio(rng, valence, arousal))
        vision.append(_vision(rng, valence))
    return SentimentDataset(
        words=words, token_ids=token_ids,
        features={"text": text_features, "audio": audio, "vision": vision},
        labels=labels, sarcastic=sarcastic, text_sentiment=text_sentiment,
    )
