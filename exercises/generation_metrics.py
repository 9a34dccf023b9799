# Exercise generated from solutions/generation_metrics.py by `python -m autograder generate`: do not regenerate over
# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.
"""Evaluating generated text and multimodal LLMs: BLEU, CIDEr-D, VQA accuracy, CLIPScore, CHAIR, POPE.

Each metric is a convention someone wrote down in code; papers quote the number and rarely the
convention, and interviewers ask about exactly that. The docstrings say which code each function
follows where sources differ:

* BLEU      Papineni et al. (2002), corpus level; NLTK's `corpus_bleu` without smoothing agrees.
* CIDEr-D   Vedantam et al. (2015) as the COCO caption evaluation computes it (pycocoevalcap's
            cider_scorer.py: n = 1..4, TF-IDF over the references, clipping, Gaussian length penalty, x10).
* VQA       Antol et al. (2015), the official evaluation script's accuracy and answer normalisation.
* CLIPScore Hessel et al. (2021), w * max(cos, 0) with w = 2.5.
* CHAIR     Rohrbach et al. (2018), CHAIR_i and CHAIR_s from object mentions and a synonym table.
* POPE      Li et al. (2023), yes/no object probes in the random, popular and adversarial settings.

Pure Python and NumPy. Bad input raises ValueError (or TypeError for a wrong type) naming the argument.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

# ----------------------------------------------------------------------------- given constants (VQA normalisation)
# vqaEval.py's tables: number words become digits, articles are dropped, these characters are punctuation.
NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
ARTICLES = ("a", "an", "the")
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",",
               "?", "!")
POPE_SETTINGS = ("random", "popular", "adversarial")


# ----------------------------------------------------------------------------- given helpers
def ngram_counts(tokens: list[str], n: int) -> Counter:
    """Counter of the n-grams (as tuples) of one token list; empty when len(tokens) < n."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def _check_tokens(name: str, tokens) -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)):
        raise TypeError(f"{name} must be a list of token strings, got {type(tokens).__name__}")
    if not all(isinstance(t, str) for t in tokens):
        raise TypeError(f"{name} must hold strings only")
    return list(tokens)


def _check_probability_pairs(name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold booleans or 0/1")
        arr = arr.astype(bool)
    return arr


# ----------------------------------------------------------------------------- BLEU
def corpus_bleu(hypotheses: list[list[str]], references: list[list[list[str]]], max_n: int = 4) -> float:
    """Corpus-level BLEU (Papineni et al., 2002) with uniform weights 1/max_n and no smoothing.

    hypotheses: one token list per segment (already tokenised).
    references: per segment, a non-empty list of reference token lists.
    For each n in 1..max_n the modified precision is summed over the corpus BEFORE dividing:
        p_n = sum over segments of clipped matches / sum over segments of hypothesis n-grams,
    where an n-gram's count in a hypothesis is clipped to its largest count in any ONE reference
    of that segment. Brevity penalty from the corpus lengths: c = total hypothesis length,
    r = sum over segments of the reference length closest to that hypothesis's length (a tie
    goes to the SHORTER reference); BP = 1 if c > r else exp(1 - r / c) (0 when c = 0).
        BLEU = BP * exp( (1/max_n) * sum_n log p_n ),  in [0, 1].
    Returns 0.0 when some p_n is 0 (no smoothing) or has no hypothesis n-gram at all.
    NLTK's corpus_bleu gives the same number (up to ~1e-77 where it returns a tiny value instead
    of 0) whenever every hypothesis has at least max_n tokens; for shorter ones NLTK adds 1 to the
    denominator per segment, while this function (like Papineni and sacreBLEU) adds 0.
    Raises ValueError for different numbers of hypotheses and reference sets, an empty corpus,
    a segment without references, or max_n < 1; TypeError for tokens that are not strings.
    """
    raise NotImplementedError('generation_metrics: task corpus_bleu — Corpus-level BLEU (Papineni et al., 2002) with uniform weights 1/max_n and no smoothing')


# ----------------------------------------------------------------------------- CIDEr-D
def cider_d(candidates: dict, references: dict) -> tuple[float, dict]:
    """CIDEr-D (Vedantam et al., 2015) exactly as the COCO caption evaluation computes it.

    candidates: {id: caption}, one already tokenised caption per item, words joined by spaces.
    references: {id: [caption, ...]}, the same ids, each with at least one reference caption.
    Follows pycocoevalcap's cider_scorer.py (the "CIDEr" of COCO leaderboards is this CIDEr-D):
      * n-grams for n = 1..4 of the space-split words;
      * document frequency df(g) = the number of ITEMS whose references (any of them) contain g;
        the evaluated set itself is the corpus (N = number of items), candidates do not count;
      * TF-IDF vector per caption and per n: g -> count(g) * (log N - log max(1, df(g)));
      * for each reference and each n: the clipped similarity
            sum over the candidate's n-grams g of min(v_cand[g], v_ref[g]) * v_ref[g]
        divided by |v_cand| * |v_ref| (left as it is where a norm is 0), times the Gaussian length
        penalty exp(-(len_cand - len_ref)^2 / (2 * 6^2)) with lengths in words (the scorer counts
        bigrams, words - 1, which gives the same differences wherever the score is not 0 anyway);
      * item score = 10 * mean over n of (the sum over references / number of references);
      * corpus score = the mean of the item scores.
    With one item every IDF is 0, so every score is 0 (CIDEr needs a corpus).
    Returns (corpus score as a float, {id: item score as a float}).
    Raises ValueError for an empty dict, different ids, or an item without references;
    TypeError for captions that are not strings.
    """
    raise NotImplementedError('generation_metrics: task cider_d — CIDEr-D (Vedantam et al., 2015) exactly as the COCO caption evaluation computes it')


# ----------------------------------------------------------------------------- VQA accuracy
def normalize_answer(answer: str) -> str:
    """The VQA answer normalisation, applied to the prediction and to every human answer.

    In this order: lower-case, tabs and newlines become spaces; a comma between two digits is
    deleted ("1,000" -> "1000"); every other PUNCTUATION character becomes a space; a period not
    followed by a digit is deleted ("3.5" keeps its point); then the words are split on
    whitespace, number words become digits (NUMBER_WORDS), articles (ARTICLES) are dropped, and
    the words are joined with single spaces:  "Two dogs!" -> "2 dogs", "The T-shirt." -> "t shirt".
    Differences from vqaEval.py, which matter only for rare answers: it deletes (instead of
    spacing out) a punctuation mark that touches a space, and it restores the apostrophe of about
    a hundred contractions ("dont" -> "don't"), which is left out here.
    """
    raise NotImplementedError('generation_metrics: task normalize_answer — The VQA answer normalisation, applied to the prediction and to every human answer')


def vqa_accuracy(prediction: str, answers: list[str]) -> float:
    """The official VQA accuracy of one predicted answer against the human answers (usually 10).

    Both sides are normalised with `normalize_answer`. For each human i, the prediction scores
    min(#OTHER humans whose answer equals the prediction / 3, 1); the accuracy is the mean of
    these leave-one-out scores over all humans. So with 10 humans: 0 matches -> 0, 1 -> 0.3,
    2 -> 0.6, 3 -> 0.9, 4 or more -> 1.0 (not the naive min(#matches / 3, 1), which gives 1/3,
    2/3, 1, 1). Both sides are normalised, always. vqaEval.py normalises the prediction and, only
    when the humans disagree, punctuation in their answers, which the VQA release ships already
    normalised: on that data the two agree, and this version also works on raw human answers.
    Returns a float in [0, 1]. Raises ValueError for an empty `answers`; TypeError for non-strings.
    """
    raise NotImplementedError('generation_metrics: task vqa_accuracy — The official VQA accuracy of one predicted answer against the human answers (usually 10)')


# ----------------------------------------------------------------------------- CLIPScore
def clip_score(image_embeddings: np.ndarray, text_embeddings: np.ndarray, w: float = 2.5) -> np.ndarray:
    """CLIPScore (Hessel et al., 2021) of each (image, caption) pair: w * max(cos(image, text), 0).

    image_embeddings, text_embeddings: (N, D), row i of each is a pair; not necessarily
    normalised (the cosine normalises). w: the rescaling weight, 2.5 in the paper.
    Returns (N,) float64 in [0, w]. Raises ValueError for shapes that differ or are not 2-D,
    a zero-length embedding, or NaN.
    """
    raise NotImplementedError('generation_metrics: task clip_score — CLIPScore (Hessel et al., 2021) of each (image, caption) pair: w * max(cos(image, text), 0)')


# ----------------------------------------------------------------------------- CHAIR
def chair(caption_objects: list[list[str]], image_objects: list[list[str]], synonyms: dict[str, str]) -> dict:
    """CHAIR_i and CHAIR_s (Rohrbach et al., 2018): how often captions name objects that are not there.

    caption_objects: per caption, the object words it mentions, in order, repeats included
                     (e.g. ["man", "dog", "puppy"]).
    image_objects:   per caption, the canonical objects really present in its image.
    synonyms:        {word: canonical object}, e.g. {"puppy": "dog", "dog": "dog"}; a word that is
                     not a key is not an object word and is ignored (as the paper's vocabulary does).
    A mention is hallucinated when its canonical object is not among the image's objects.
        CHAIR_i = hallucinated mentions / all object mentions (over all captions, repeats counted
                  as in Rohrbach's chair.py; 0.0 when no caption mentions an object)
        CHAIR_s = captions with at least one hallucinated mention / all captions
    Returns {"chair_i": float, "chair_s": float}.
    Raises ValueError for lists of different lengths or an empty list.
    """
    raise NotImplementedError('generation_metrics: task chair — CHAIR_i and CHAIR_s (Rohrbach et al., 2018): how often captions name objects that are not there')


# ----------------------------------------------------------------------------- POPE
def pope_questions(image_objects: list[list[str]], setting: str, num_per_image: int,
                   generator: np.random.Generator, vocabulary: list[str] | None = None) -> list[tuple[int, str, int]]:
    """POPE's yes/no probes "Is there a <object> in the image?" (Li et al., 2023).

    image_objects: per image, the objects present (ground truth, distinct names).
    setting:       "random", "popular" or "adversarial" (how the absent objects are chosen).
    num_per_image: k; each image gets k positives and k negatives.
    generator:     np.random.Generator for every random draw.
    vocabulary:    all candidate objects; None means the sorted union of image_objects.
    Per image, in order: k positives drawn uniformly WITHOUT replacement from its objects, then k
    negatives among the vocabulary objects NOT in the image:
      random       k drawn uniformly without replacement;
      popular      the k most frequent ones, frequency = number of images that contain the object
                   (over the given image_objects);
      adversarial  the k that co-occur most with this image's objects: score(c) = sum over the
                   image's objects o of the number of images that contain both o and c.
    Ties in popular/adversarial go to the alphabetically smaller name. The sum over the image's
    objects and the tie rule are this exercise's fixed choices; POPE's script ranks by the same
    counts over COCO's segmentation annotations.
    Returns [(image index, object, label), ...] with label 1 ("yes") for positives and 0 ("no").
    Raises ValueError for an unknown setting, k < 1, an image with fewer than k objects or fewer
    than k absent vocabulary objects.
    """
    raise NotImplementedError('generation_metrics: task pope_questions — POPE\'s yes/no probes "Is there a <object> in the image?" (Li et al., 2023)')


def pope_metrics(predicted_yes, labels) -> dict:
    """POPE's report: accuracy, precision, recall and F1 of the "yes" class, and the yes-ratio.

    predicted_yes: (N,) bool (or 0/1), the model answered "yes".
    labels:        (N,) bool (or 0/1), the object is really there.
    yes_ratio is the share of questions the MODEL answered "yes" (0.5 for an unbiased model on
    POPE's balanced questions; a yes-biased model shows a ratio well above 0.5).
    Precision is 0.0 when the model never says "yes"; F1 is 0.0 when precision + recall = 0.
    Returns {"accuracy", "precision", "recall", "f1", "yes_ratio"} as floats.
    Raises ValueError for arrays of different lengths, empty arrays or values other than 0/1.
    """
    raise NotImplementedError('generation_metrics: task pope_metrics — POPE\'s report: accuracy, precision, recall and F1 of the "yes" class, and the yes-ratio')
