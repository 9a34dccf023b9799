"""Graded checks for exercises/generation_metrics.py.

Oracles: NLTK's corpus_bleu (no smoothing) and pycocoevalcap's Cider scorer (the COCO caption
evaluation's CIDEr-D, pure Python) on captions of the shapes data drawn from the grading seed;
hand-worked cases for BLEU's clipping and brevity penalty, VQA's leave-one-out average and
normalisation, CHAIR and POPE; scikit-learn for POPE's precision/recall/F1. The VQA, CHAIR and POPE
references below are written from the papers' code (vqaEval.py, Rohrbach's chair.py, POPE's
sampling) in the conventions the docstrings fix.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
import scipy.stats
from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu
from pycocoevalcap.cider.cider import Cider
from sklearn import metrics as skm

from autograder.checking import close, equal, raises_value_error
from autograder.expect import Any, Array, Dict, Float, List, Str, Tuple
from autograder.student import StudentRaised
from mmprep.data.shapes import SYNONYMS, caption_scene, random_scene

task = pytest.mark.task
M = "generation_metrics."


# ----------------------------------------------------------------------------- shapes captions as a corpus
def caption_corpus(rng, items=30, refs_per_item=4):
    """Items of the shapes data: reference captions, and candidates that are right, wrong or degenerate."""
    scenes = [random_scene(rng) for _ in range(items)]  # captions only: no need to render the images
    captions = [[caption_scene(scene, rng) for _ in range(refs_per_item + 1)] for scene in scenes]
    references, candidates = [], []
    for i in range(items):
        caps = captions[i]
        references.append([c.split() for c in caps[1:]])
        kind = i % 5
        if kind == 0:  # another image's caption
            words = captions[(i + 1) % items][0].split()
        elif kind == 1:  # repeated words: clipping matters
            words = caps[0].split()
            words = words[:3] + words[:3] + words[1:3] + words
        elif kind == 2:  # a short caption: the brevity penalty and the length penalty matter
            words = caps[0].split()[:4]
        else:
            words = caps[0].split()
        candidates.append(words)
    return candidates, references


# ----------------------------------------------------------------------------- corpus_bleu
def bleu_weights(max_n):
    return tuple([1.0 / max_n] * max_n)


@task("corpus_bleu", points=3)
@pytest.mark.parametrize("max_n", [4, 2])
def test_corpus_bleu_matches_nltk(student, rng, max_n):
    hyps, refs = caption_corpus(rng)
    got = student.call(M + "corpus_bleu", hyps, refs, max_n=max_n, returns=Float())
    want = nltk_corpus_bleu(refs, hyps, weights=bleu_weights(max_n))
    close(got, want, f"corpus_bleu(max_n={max_n}) on {len(hyps)} shapes captions differs from NLTK's corpus_bleu "
          "(clipped n-gram counts summed over the corpus, geometric mean, brevity penalty from the closest "
          "reference length with ties to the shorter)", atol=1e-10)


@task("corpus_bleu", points=1)
def test_corpus_bleu_sums_counts_over_the_corpus(student):
    # segment 1: 4/4 unigrams match; segment 2: 1/8 -> corpus p1 = 5/12, not the mean of 1 and 1/8
    hyps = [["a", "red", "circle", "left"], ["x", "y", "z", "w", "v", "u", "t", "red"]]
    refs = [[["a", "red", "circle", "left"]], [["red", "q", "r", "s", "o", "p", "m", "n"]]]
    close(student.call(M + "corpus_bleu", hyps, refs, max_n=1, returns=Float()), 5 / 12,
          "corpus_bleu(max_n=1) with 4/4 and 1/8 matching unigrams: the precision is (4 + 1) / (4 + 8) summed over "
          "the corpus, not the mean of the per-segment precisions")


@task("corpus_bleu", points=1)
def test_corpus_bleu_hand_worked_clipping(student):
    # Papineni's example: "the" x 7 against "the cat is on the mat" -> 2 of 7 unigrams count
    hyps = [["the"] * 7]
    refs = [[["the", "cat", "is", "on", "the", "mat"], ["there", "is", "a", "cat", "on", "the", "mat"]]]
    close(student.call(M + "corpus_bleu", hyps, refs, max_n=1, returns=Float()), 2 / 7,
          "corpus_bleu(max_n=1) of 'the the the the the the the' (each n-gram's count clipped to its largest "
          "count in one reference: 2 of 7)")


@task("corpus_bleu", points=1)
def test_corpus_bleu_hand_worked_brevity_penalty(student):
    # 2 words against references of 3 and 6 words: the closest is 3 -> BP = exp(1 - 3/2)
    got = student.call(M + "corpus_bleu", [["the", "cat"]], [[["the", "cat", "sat"], ["the", "cat", "sat", "on",
                                                                                        "the", "mat"]]],
                       max_n=1, returns=Float())
    close(got, math.exp(1 - 3 / 2), "corpus_bleu(max_n=1) of a 2-word hypothesis with references of 3 and 6 words "
          "(brevity penalty exp(1 - r/c) with r the CLOSEST reference length, 3)")
    # 4 words, references of 3 and 5 words tie at distance 1: the shorter wins, so c = 4 > r = 3 and BP = 1
    got = student.call(M + "corpus_bleu", [["a", "b", "c", "d"]], [[["a", "b", "c"], ["a", "b", "c", "d", "e"]]],
                       max_n=1, returns=Float())
    close(got, 1.0, "corpus_bleu(max_n=1) of 4 words with references of 3 and 5 words (a tie in distance goes to "
          "the SHORTER reference, so no brevity penalty)")


@task("corpus_bleu", points=1)
def test_corpus_bleu_zero_and_bad_input(student):
    close(student.call(M + "corpus_bleu", [["a", "b", "c", "d"]], [[["d", "c", "b", "a"]]], returns=Float()), 0.0,
          "corpus_bleu with no matching 2-gram (no smoothing: 0)")
    raises_value_error(student, M + "corpus_bleu", [["a"]], [[["a"]], [["b"]]], case="1 hypothesis and 2 reference sets")
    raises_value_error(student, M + "corpus_bleu", [["a"]], [[]], case="a segment without references")


# ----------------------------------------------------------------------------- cider_d
def cider_reference(candidates: dict, references: dict):
    score, scores = Cider().compute_score(references, {k: [v] for k, v in candidates.items()})
    return float(score), dict(zip(references, (float(s) for s in scores)))


def run_cider(student, candidates, references):
    got = student.call(M + "cider_d", candidates, references,
                       returns=Tuple(Float(), Dict({k: Float() for k in candidates})))
    return got


@task("cider_d", points=3)
def test_cider_d_matches_pycocoevalcap(student, rng):
    hyps, refs = caption_corpus(rng, items=30)
    candidates = {f"img{i}": " ".join(h) for i, h in enumerate(hyps)}
    references = {f"img{i}": [" ".join(r) for r in rs] for i, rs in enumerate(refs)}
    score, per_item = run_cider(student, candidates, references)
    want, want_items = cider_reference(candidates, references)
    keys = list(candidates)
    close([per_item[k] for k in keys], [want_items[k] for k in keys],
          "cider_d per-item scores differ from pycocoevalcap's Cider (CIDEr-D: TF-IDF with document frequency over "
          "the references, clipping, Gaussian length penalty sigma=6, x10)", atol=1e-9)
    close(score, want, "cider_d corpus score (the mean of the item scores) differs from pycocoevalcap", atol=1e-9)


@task("cider_d", points=1)
def test_cider_d_rewards_consensus_and_penalises_length(student, rng):
    hyps, refs = caption_corpus(rng, items=12)
    references = {f"i{i}": [" ".join(r) for r in rs] for i, rs in enumerate(refs)}
    base = {k: v[0] for k, v in references.items()}
    padded = {k: v + " " + " ".join(v.split()[:3]) * 2 for k, v in base.items()}  # longer, repeated n-grams
    for name, candidates in (("a reference itself", base), ("a reference with repeated words added", padded)):
        _, per_item = run_cider(student, candidates, references)
        _, want = cider_reference(candidates, references)
        close([per_item[k] for k in candidates], [want[k] for k in candidates],
              f"cider_d per-item scores when each candidate is {name} (clipping and the length penalty count)",
              atol=1e-9)


@task("cider_d", points=1)
def test_cider_d_rejects_bad_input(student):
    raises_value_error(student, M + "cider_d", {"a": "x y"}, {"b": ["x y"]}, case="different ids")
    raises_value_error(student, M + "cider_d", {"a": "x y"}, {"a": []}, case="an item without references")


# ----------------------------------------------------------------------------- vqa_accuracy
def official_normalise(text: str) -> str:
    """vqaEval.py's processPunctuation + processDigitArticle, in the docstring's variant (no contractions)."""
    text = text.lower().replace("\n", " ").replace("\t", " ")
    text = re.sub(r"(\d),(\d)", r"\1\2", text)
    for mark in ";/[]\"{}()=+\\_-><@`,?!":
        text = text.replace(mark, " ")
    text = re.sub(r"\.(?!\d)", "", text)
    numbers = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
               "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
    return " ".join(numbers.get(w, w) for w in text.split() if numbers.get(w, w) not in ("a", "an", "the"))


def official_vqa(prediction: str, answers: list[str]) -> float:
    pred = official_normalise(prediction)
    gts = [official_normalise(a) for a in answers]
    accs = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        accs.append(min(1.0, sum(o == pred for o in others) / 3))
    return float(np.mean(accs))


@task("vqa_accuracy", points=2)
def test_vqa_accuracy_leave_one_out(student):
    # with 10 humans: k matches -> mean over the 10 subsets of 9 -> 0, 0.3, 0.6, 0.9, 1, ...
    expected = {0: 0.0, 1: 0.3, 2: 0.6, 3: 0.9, 4: 1.0, 10: 1.0}
    for k, want in expected.items():
        answers = ["yes"] * k + ["no"] * (10 - k)
        got = student.call(M + "vqa_accuracy", "yes", answers, returns=Float())
        close(got, want, f"vqa_accuracy when {k} of 10 humans gave the predicted answer (the mean of "
              "min(#matches among the OTHER 9 / 3, 1) over the 10 leave-one-out subsets)", atol=1e-9)


@task("vqa_accuracy", points=1)
@pytest.mark.parametrize("prediction,answers,why", [
    ("Two", ["2"] * 4 + ["3"] * 6, "upper case and a number word"),
    ("the dog", ["dog"] * 4 + ["cat"] * 6, "an article"),
    ("yes!", ["yes"] * 4 + ["no"] * 6, "punctuation"),
    ("T-Shirt.", ["t shirt"] * 4 + ["shirt"] * 6, "a hyphen and a final period"),
    ("1,000", ["1000"] * 4 + ["100"] * 6, "a comma between digits"),
    ("3.5", ["35"] * 4 + ["3.5"] * 2 + ["4"] * 4, "a decimal point, which stays"),
    ("an apple", ["Apple"] * 4 + ["pear"] * 6, "an article and upper case in the human answers"),
])
def test_vqa_accuracy_normalises_answers(student, prediction, answers, why):
    got = student.call(M + "vqa_accuracy", prediction, answers, returns=Float())
    close(got, official_vqa(prediction, answers),
          f"vqa_accuracy({prediction!r}) against {Counter(answers).most_common()}: the answer normalisation "
          f"({why}) as vqaEval.py", atol=1e-9)


@task("vqa_accuracy", points=1)
def test_vqa_accuracy_random_answers(student, rng):
    pool = ["2", "two", "Two.", "3", "red", "the red", "Red!", "yes", "no", "a cat", "cats"]
    for _ in range(12):
        answers = [str(a) for a in rng.choice(pool, size=10)]
        prediction = str(rng.choice(pool))
        close(student.call(M + "vqa_accuracy", prediction, answers, returns=Float()), official_vqa(prediction, answers),
              f"vqa_accuracy({prediction!r}) against {answers}", atol=1e-9)
    raises_value_error(student, M + "vqa_accuracy", "yes", [], case="no human answers")


# ----------------------------------------------------------------------------- clip_score
@task("clip_score", points=2)
def test_clip_score_formula(student, rng):
    img = rng.normal(size=(40, 16)) * rng.uniform(0.2, 5.0, size=(40, 1))  # unnormalised, different lengths
    txt = rng.normal(size=(40, 16)) * rng.uniform(0.2, 5.0, size=(40, 1))
    txt[:20] += 1.5 * img[:20] / np.linalg.norm(img[:20], axis=1, keepdims=True) * np.linalg.norm(txt[:20], axis=1,
                                                                                                  keepdims=True)
    cosine = np.sum(img * txt, 1) / np.linalg.norm(img, axis=1) / np.linalg.norm(txt, axis=1)
    assert (cosine < 0).any() and (cosine > 0).any()
    got = student.call(M + "clip_score", img, txt, returns=Array((40,), "float"))
    close(got, 2.5 * np.maximum(cosine, 0), "clip_score of unnormalised embeddings, some pairs with a negative "
          "cosine: 2.5 * max(cos, 0) per pair", atol=1e-10)
    got = student.call(M + "clip_score", img, txt, w=1.0, returns=Array((40,), "float"))
    close(got, np.maximum(cosine, 0), "clip_score(w=1.0)", atol=1e-10)


@task("clip_score", points=1)
def test_clip_score_hand_worked_and_bad_input(student):
    img = np.array([[3.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    txt = np.array([[1.0, 0.0], [-1.0, -1.0], [1.0, 1.0]])
    got = student.call(M + "clip_score", img, txt, returns=Array((3,), "float"))
    close(got, [2.5, 0.0, 2.5 / math.sqrt(2)], "clip_score of pairs with cosines 1, -1 and 1/sqrt(2)", atol=1e-10)
    raises_value_error(student, M + "clip_score", img, txt[:2], case="3 images and 2 texts")


# ----------------------------------------------------------------------------- chair
CHAIR_SPEC = Dict({"chair_i": Float(), "chair_s": Float()})
SHAPE_SYNONYMS = {word: shape for shape in ("circle", "square", "triangle") for word in SYNONYMS[shape]}


def chair_reference(caption_objects, image_objects, synonyms):
    mentions = hallucinated = bad = 0
    for words, present in zip(caption_objects, image_objects):
        objects = [synonyms[w] for w in words if w in synonyms]
        wrong = sum(o not in set(present) for o in objects)
        mentions, hallucinated, bad = mentions + len(objects), hallucinated + wrong, bad + (wrong > 0)
    return {"chair_i": hallucinated / mentions if mentions else 0.0, "chair_s": bad / len(caption_objects)}


def check_chair(student, caption_objects, image_objects, synonyms, what):
    got = student.call(M + "chair", caption_objects, image_objects, synonyms, returns=CHAIR_SPEC)
    want = chair_reference(caption_objects, image_objects, synonyms)
    close(got["chair_i"], want["chair_i"], f"CHAIR_i (hallucinated mentions / all mentions) {what}", atol=1e-12)
    close(got["chair_s"], want["chair_s"], f"CHAIR_s (captions with a hallucination / all captions) {what}",
          atol=1e-12)


@task("chair", points=2)
def test_chair_hand_worked(student):
    synonyms = {"dog": "dog", "puppy": "dog", "cat": "cat", "kitten": "cat", "man": "person", "person": "person",
                "frisbee": "frisbee"}
    captions = [["man", "puppy", "frisbee"], ["kitten", "dog", "dog"], ["grass"], ["person", "person"]]
    images = [["person", "dog", "frisbee"], ["dog"], ["dog"], ["cat"]]
    # mentions 3 + 3 + 0 + 2 = 8; hallucinated: 0 + 1 (kitten) + 0 + 2 (person twice) = 3; captions 2 of 4
    got = student.call(M + "chair", captions, images, synonyms, returns=CHAIR_SPEC)
    close(got["chair_i"], 3 / 8, "CHAIR_i for 8 object mentions (synonyms mapped, repeats counted, 'grass' not an "
          "object) of which 3 are hallucinated", atol=1e-12)
    close(got["chair_s"], 2 / 4, "CHAIR_s for 4 captions of which 2 mention an absent object", atol=1e-12)


@task("chair", points=2)
def test_chair_rises_when_a_captioner_names_absent_objects(student, rng):
    images = [sorted({o.shape for o in random_scene(rng, two_object_prob=0.5)}) for _ in range(120)]
    shapes = ("circle", "square", "triangle")
    previous = None
    for rate in (0.0, 0.3, 0.7):
        captions = []
        for present in images:
            words = [str(rng.choice(SYNONYMS[s])) for s in present] + ["on", "dark", "background"]
            absent = [s for s in shapes if s not in present]
            if rng.random() < rate and absent:
                words.insert(1, str(rng.choice(SYNONYMS[str(rng.choice(absent))])))
            captions.append(words)
        check_chair(student, captions, images, SHAPE_SYNONYMS,
                    f"of a synthetic captioner naming an absent shape in about {rate:.0%} of 120 captions "
                    "(shape synonyms such as 'disc' for circle)")
        got = student.call(M + "chair", captions, images, SHAPE_SYNONYMS, returns=CHAIR_SPEC)
        if previous is not None and not got["chair_s"] > previous:
            raise AssertionError(f"CHAIR_s did not rise when the captioner hallucinated more often: {previous:.3f} "
                                 f"-> {got['chair_s']:.3f}")
        previous = got["chair_s"]


@task("chair", points=1)
def test_chair_rejects_bad_input(student):
    raises_value_error(student, M + "chair", [["dog"]], [["dog"], ["cat"]], {"dog": "dog"},
                       case="1 caption and 2 images")
    raises_value_error(student, M + "chair", [], [], {"dog": "dog"}, case="no captions")


# ----------------------------------------------------------------------------- pope
GROUPS = {
    "kitchen": ("fork", "knife", "cup", "oven", "sink", "bowl"),
    "street": ("car", "bus", "traffic light", "bicycle", "stop sign"),
    "park": ("dog", "frisbee", "bench", "kite", "tree"),
}


def pope_images(rng, count=60):
    """Images whose objects come from one scene type (plus 'person', the popular object): strong co-occurrence."""
    images = []
    names = list(GROUPS)
    for _ in range(count):
        group = GROUPS[names[int(rng.integers(len(names)))]]
        objs = set(rng.choice(group, size=int(rng.integers(3, 5)), replace=False).tolist())
        if rng.random() < 0.7:
            objs.add("person")
        images.append(sorted(objs))
    return images


def run_pope(student, images, setting, k, seed, vocabulary=None):
    got = student.probe(M + "pope_questions", images, setting, k, seed, vocabulary=vocabulary,
                        returns=Dict({"type": Str(), "questions": List(Any())}))
    if got["type"] not in ("list", "tuple"):
        raise AssertionError(f"pope_questions returned {got['type']}, expected a list of (image, object, label)")
    for q in got["questions"]:
        if not isinstance(q, list):
            raise AssertionError(f"pope_questions returned an entry {q}, expected (image index, object, label)")
    return [tuple(q) for q in got["questions"]]


def split_questions(questions, images, setting, k):
    """{image: (positives, negatives)} after checking the layout: k positives then k negatives per image."""
    if len(questions) != 2 * k * len(images):
        raise AssertionError(f"pope_questions({setting!r}, num_per_image={k}) gave {len(questions)} questions for "
                             f"{len(images)} images, expected {2 * k * len(images)} (k yes and k no per image)")
    out = {}
    for i, present in enumerate(images):
        block = questions[2 * k * i: 2 * k * (i + 1)]
        if [q[0] for q in block] != [i] * (2 * k) or [q[2] for q in block] != [1] * k + [0] * k:
            raise AssertionError(f"pope_questions({setting!r}): the questions of image {i} are {block}, expected its "
                                 f"{k} positives (label 1) then {k} negatives (label 0)")
        pos, neg = [q[1] for q in block[:k]], [q[1] for q in block[k:]]
        if len(set(pos)) < k or not set(pos) <= set(present):
            raise AssertionError(f"pope_questions({setting!r}): image {i} with objects {present} got positives {pos}; "
                                 f"they must be {k} distinct objects of the image")
        if len(set(neg)) < k:
            raise AssertionError(f"pope_questions({setting!r}): image {i} got negatives {neg} with a repeat: draw "
                                 "without replacement")
        if set(neg) & set(present):
            raise AssertionError(f"pope_questions({setting!r}): image {i} with objects {present} got negatives {neg}, "
                                 "which include a present object")
        out[i] = (pos, neg)
    return out


def popular_reference(images, k):
    freq = Counter(o for objs in images for o in set(objs))
    vocab = sorted(freq)
    return [sorted([o for o in vocab if o not in objs], key=lambda o: (-freq[o], o))[:k] for objs in images]


def adversarial_reference(images, k):
    vocab = sorted({o for objs in images for o in objs})
    pair = Counter((a, b) for objs in images for a in set(objs) for b in set(objs) if a != b)
    return [sorted([o for o in vocab if o not in objs], key=lambda o: (-sum(pair[(p, o)] for p in objs), o))[:k]
            for objs in images]


@task("pope_questions", points=2)
@pytest.mark.parametrize("setting", ["popular", "adversarial"])
def test_pope_questions_deterministic_settings(student, rng, setting):
    images = pope_images(rng)
    k = 3
    parts = split_questions(run_pope(student, images, setting, k, int(rng.integers(2**31))), images, setting, k)
    want = (popular_reference if setting == "popular" else adversarial_reference)(images, k)
    rule = ("the k most frequent absent objects (frequency = images containing the object)" if setting == "popular"
            else "the k absent objects that co-occur most with the image's objects")
    for i in parts:
        if sorted(parts[i][1]) != sorted(want[i]):
            raise AssertionError(f"pope_questions({setting!r}): image {i} with objects {images[i]} got negatives "
                                 f"{parts[i][1]}, expected {want[i]} ({rule}; ties alphabetically)")


@task("pope_questions", points=2)
def test_pope_questions_random_negatives_are_uniform(student, rng):
    # the same 3 present objects in 900 images: the 9 absent ones should be drawn equally often, without repeats
    vocabulary = sorted({o for g in GROUPS.values() for o in g})[:12]
    present = vocabulary[:3]
    images = [present] * 900
    k = 2
    parts = split_questions(run_pope(student, images, "random", k, int(rng.integers(2**31)), vocabulary=vocabulary),
                            images, "random", k)
    counts = Counter(o for _, neg in parts.values() for o in neg)
    absent = vocabulary[3:]
    observed = np.array([counts[o] for o in absent])
    if set(counts) - set(absent):
        raise AssertionError(f"pope_questions('random') drew negatives outside the absent vocabulary: "
                             f"{sorted(set(counts) - set(absent))}")
    pvalue = scipy.stats.chisquare(observed).pvalue
    if pvalue < 1e-6:
        raise AssertionError(f"pope_questions('random'): the 9 absent objects were drawn {observed.tolist()} times in "
                             f"900 images (chi-square p = {pvalue:.1e}); draw negatives uniformly")
    positives = Counter(o for pos, _ in parts.values() for o in pos)
    pvalue = scipy.stats.chisquare([positives[o] for o in present]).pvalue
    if pvalue < 1e-6:
        raise AssertionError(f"pope_questions: the positives over 900 images were {dict(positives)} (chi-square "
                             f"p = {pvalue:.1e}); draw k of the image's objects uniformly")


def yes_biased_answers(images, questions, rng):
    """A model that hallucinates objects that usually come with what it sees: P(yes | absent) grows with co-occurrence."""
    pair = Counter((a, b) for objs in images for a in set(objs) for b in set(objs) if a != b)
    count = Counter(o for objs in images for o in set(objs))
    answers, labels = [], []
    for i, name, label in questions:
        if label:
            p = 0.95
        else:
            strength = max((pair[(o, name)] / count[o] for o in images[i]), default=0.0)
            p = 0.1 + 0.8 * strength
        answers.append(bool(rng.random() < p))
        labels.append(bool(label))
    return np.array(answers), np.array(labels)


@task("pope_questions", points=1)
def test_pope_yes_biased_model_loses_more_on_adversarial(student, rng):
    images = pope_images(rng, count=150)
    seed = int(rng.integers(2**31))
    accuracy = {}
    for setting in ("random", "popular", "adversarial"):
        questions = run_pope(student, images, setting, 3, seed)
        split_questions(questions, images, setting, 3)
        answers, labels = yes_biased_answers(images, questions, rng)
        accuracy[setting] = float(np.mean(answers == labels))
    if not accuracy["adversarial"] < accuracy["random"] - 0.05:
        raise AssertionError(f"a model that says yes to co-occurring objects scored {accuracy['adversarial']:.3f} on "
                             f"POPE-adversarial and {accuracy['random']:.3f} on POPE-random: the adversarial negatives "
                             "must be the objects that co-occur most with the image's objects")


@task("pope_questions", points=1)
def test_pope_questions_rejects_bad_input(student, rng):
    images = pope_images(rng, count=5)
    for args, case in (((images, "hard", 2, 0), "setting='hard'"), ((images, "random", 0, 0), "num_per_image=0"),
                       (([["cup"]] + images, "random", 2, 0), "an image with 1 object and num_per_image=2")):
        try:
            student.probe(M + "pope_questions", *args)
        except StudentRaised as exc:
            if exc.is_a("ValueError"):
                continue
            raise AssertionError(f"pope_questions on {case}: raised {exc.type_name}, expected ValueError") from None
        raise AssertionError(f"pope_questions on {case}: returned normally, expected ValueError")


# ----------------------------------------------------------------------------- pope_metrics
POPE_SPEC = Dict({k: Float() for k in ("accuracy", "precision", "recall", "f1", "yes_ratio")})


@task("pope_metrics", points=2)
def test_pope_metrics_match_sklearn(student, rng):
    labels = np.repeat([True, False], 150)
    predicted = np.where(labels, rng.random(300) < 0.9, rng.random(300) < 0.45)  # a yes-biased model
    got = student.call(M + "pope_metrics", predicted, labels, returns=POPE_SPEC)
    want = {"accuracy": skm.accuracy_score(labels, predicted), "precision": skm.precision_score(labels, predicted),
            "recall": skm.recall_score(labels, predicted), "f1": skm.f1_score(labels, predicted)}
    for key, value in want.items():
        close(got[key], value, f"pope_metrics[{key!r}] of the 'yes' class differs from sklearn", atol=1e-12)
    close(got["yes_ratio"], predicted.mean(), "pope_metrics['yes_ratio'] (the share of questions the MODEL answered "
          f"yes; the labels are balanced, {labels.mean():.2f})", atol=1e-12)


@task("pope_metrics", points=1)
def test_pope_metrics_hand_worked(student):
    got = student.call(M + "pope_metrics", np.array([1, 1, 1, 0]), np.array([1, 0, 0, 0]), returns=POPE_SPEC)
    # TP 1, FP 2, FN 0, TN 1: precision 1/3, recall 1, F1 = 2*(1/3)/(4/3) = 1/2
    for key, want in (("accuracy", 0.5), ("precision", 1 / 3), ("recall", 1.0), ("f1", 0.5), ("yes_ratio", 0.75)):
        close(got[key], want, f"pope_metrics[{key!r}] for predictions [1,1,1,0] and labels [1,0,0,0]", atol=1e-12)
    got = student.call(M + "pope_metrics", np.zeros(4, dtype=bool), np.array([1, 0, 1, 0]), returns=POPE_SPEC)
    for key in ("precision", "f1", "yes_ratio"):
        close(got[key], 0.0, f"pope_metrics[{key!r}] for a model that never says yes", atol=0)
    equal(got["accuracy"], 0.5, "pope_metrics['accuracy'] for a model that never says yes on balanced labels")
    raises_value_error(student, M + "pope_metrics", np.array([1, 0]), np.array([1, 0, 1]), case="lengths 2 and 3")
