"""Rubric scores and spaced repetition with FSRS (the `fsrs` package): which questions a drill asks.

The rubric rule, stated once:

* each key point is marked h (hit, 1), p (partly, 1/2) or m (missed, 0); the answer's coverage
  is the mean, ``f = (hits + partly / 2) / key points``;
* the FSRS rating is Easy when every point is hit (f = 1), Good when f >= 0.75, Hard when
  f >= 0.4, Again below; the 0/1/2 score kept for the topic means is 2 for Good/Easy, 1 for
  Hard, 0 for Again. An old-style self-score (scripted answers, histories of schema 1) maps
  0 -> Again, 1 -> Hard, 2 -> Good.

Every question has an FSRS card once it has been answered (`fsrs.Scheduler.review_card`, no
fuzzing so a replay is reproducible; `desired_retention` is the target retention, 0.9 unless
`--retention` changed it). Which questions a session asks:

* `--due` (`plan_due`): the cards that are due, most overdue first, then questions never
  answered (weak topics first, shuffled by the seed); nothing else;
* otherwise (`draw`): `count` distinct questions drawn with weight ``8`` for a due card, ``2``
  for a new question and ``max(0.05, 1 - R)`` for a card not yet due (R its retrievability
  now), times ``1 + 2 * weakness(topic)`` (weakness = 1 - mean score / 2 over the topic's
  answers); Efraimidis–Spirakis sampling from ``random.Random(seed)``, so the same seed and
  history give the same session. A question you missed is due again within minutes, so it
  comes back four times as likely as one you have never seen.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

import fsrs

MAX_SCORE = 2  # the 0/1/2 score: 0 missed, 1 partly, 2 solid
MARKS = {"h": 1.0, "p": 0.5, "m": 0.0}
DEFAULT_RETENTION = 0.9
RETENTION_RANGE = (0.7, 0.99)
RATING_NAMES = {fsrs.Rating.Again: "Again", fsrs.Rating.Hard: "Hard", fsrs.Rating.Good: "Good", fsrs.Rating.Easy: "Easy"}
DUE_WEIGHT, NEW_WEIGHT, MIN_WEIGHT, TOPIC_BOOST = 8.0, 2.0, 0.05, 2.0


@dataclass(frozen=True)
class Grade:
    """The result of one marked answer."""

    hit: int
    partly: int
    missed: int
    coverage: float  # f in [0, 1]
    rating: fsrs.Rating
    score: int  # 0, 1 or 2

    @property
    def percent(self) -> int:
        return round(100 * self.coverage)

    @property
    def rating_name(self) -> str:
        return RATING_NAMES[self.rating]


def grade_marks(marks: str) -> Grade:
    """'hhpm' -> Grade(hit=2, partly=1, missed=1, coverage=0.625, rating=Hard, score=1)."""
    if not isinstance(marks, str) or not marks or any(m not in MARKS for m in marks):
        raise ValueError(f"marks must be a non-empty string of h, p and m, got {marks!r}")
    coverage = sum(MARKS[m] for m in marks) / len(marks)
    if coverage == 1.0:
        rating = fsrs.Rating.Easy
    elif coverage >= 0.75:
        rating = fsrs.Rating.Good
    elif coverage >= 0.4:
        rating = fsrs.Rating.Hard
    else:
        rating = fsrs.Rating.Again
    return Grade(marks.count("h"), marks.count("p"), marks.count("m"), coverage, rating, score_for_rating(rating))


def grade_score(score: int) -> Grade:
    """An old-style self-score 0/1/2 (no rubric): 0 -> Again, 1 -> Hard, 2 -> Good."""
    if isinstance(score, bool) or score not in (0, 1, 2):
        raise ValueError(f"score must be 0, 1 or 2, got {score!r}")
    rating = (fsrs.Rating.Again, fsrs.Rating.Hard, fsrs.Rating.Good)[score]
    return Grade(0, 0, 0, score / MAX_SCORE, rating, score)


def score_for_rating(rating: fsrs.Rating) -> int:
    return {fsrs.Rating.Again: 0, fsrs.Rating.Hard: 1}.get(rating, 2)


# ---------------------------------------------------------------------------- FSRS cards
def check_retention(retention: float) -> float:
    low, high = RETENTION_RANGE
    if isinstance(retention, bool) or not isinstance(retention, (int, float)) or not low <= retention <= high:
        raise ValueError(f"retention must be in [{low}, {high}], got {retention!r}")
    return float(retention)


def make_scheduler(retention: float = DEFAULT_RETENTION) -> fsrs.Scheduler:
    return fsrs.Scheduler(desired_retention=check_retention(retention), enable_fuzzing=False)


def card_id(question_id: str) -> int:
    """A stable card id per question (FSRS only uses it to match review logs)."""
    return zlib.crc32(question_id.encode("utf-8")) + 1


def review(card: fsrs.Card | None, question_id: str, rating: fsrs.Rating, at: datetime,
           retention: float = DEFAULT_RETENTION) -> fsrs.Card:
    """The card after one review at `at` (UTC); a question's first review starts a new card."""
    if card is None:
        card = fsrs.Card(card_id=card_id(question_id), due=at)
    if card.last_review is not None and at < card.last_review:  # clocks that went back: never review "in the past"
        at = card.last_review
    updated, _log = make_scheduler(retention).review_card(card, rating, review_datetime=at.astimezone(UTC))
    return updated


def retrievability(card: fsrs.Card, at: datetime, retention: float = DEFAULT_RETENTION) -> float:
    return float(make_scheduler(retention).get_card_retrievability(card, current_datetime=at))


# ---------------------------------------------------------------------------- choosing questions
def topic_weakness(topic_scores: dict[str, tuple[int, float]]) -> dict[str, float]:
    """topic -> weakness in [0, 1]: 1 - mean score / 2 (topics never answered are absent)."""
    return {topic: 1.0 - mean / MAX_SCORE for topic, (n, mean) in topic_scores.items() if n > 0}


def _weighted_order(items: list[dict], w: list[float], rng: random.Random) -> list[dict]:
    # Efraimidis–Spirakis: key u ** (1 / w); sorting by key is a weighted sample without replacement.
    keyed = sorted(((rng.random() ** (1.0 / wi), i) for i, wi in enumerate(w)), reverse=True)
    return [items[i] for _, i in keyed]


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")


def plan_due(questions: list[dict], count: int, cards: dict[str, fsrs.Card], topic_scores: dict[str, tuple[int, float]],
             now: datetime, seed: int | None = None) -> tuple[list[dict], int, int]:
    """(questions to ask, how many are due, how many are new): due cards first, most overdue first,
    then questions never answered (weak topics first); at most `count`."""
    _check_count(count)
    due = sorted((q for q in questions if q["id"] in cards and cards[q["id"]].due <= now),
                 key=lambda q: (cards[q["id"]].due, q["id"]))
    new = [q for q in questions if q["id"] not in cards]
    weak = topic_weakness(topic_scores)
    new = _weighted_order(new, [1.0 + TOPIC_BOOST * weak.get(q["topic"], 0.0) for q in new], random.Random(seed))
    return (due + new)[:count], len(due), len(new)


def weights(questions: list[dict], cards: dict[str, fsrs.Card], topic_scores: dict[str, tuple[int, float]],
            now: datetime, retention: float = DEFAULT_RETENTION) -> list[float]:
    weak = topic_weakness(topic_scores)
    sched = make_scheduler(retention)
    out = []
    for q in questions:
        card = cards.get(q["id"])
        if card is None:
            base = NEW_WEIGHT
        elif card.due <= now:
            base = DUE_WEIGHT
        else:
            base = max(MIN_WEIGHT, 1.0 - sched.get_card_retrievability(card, current_datetime=now))
        out.append(base * (1.0 + TOPIC_BOOST * weak.get(q["topic"], 0.0)))
    return out


def draw(questions: list[dict], count: int, cards: dict[str, fsrs.Card], topic_scores: dict[str, tuple[int, float]],
         now: datetime, seed: int | None = None, retention: float = DEFAULT_RETENTION) -> list[dict]:
    """`count` distinct questions (all of them if fewer): due ones most likely, then new, then the least retained."""
    _check_count(count)
    w = weights(questions, cards, topic_scores, now, retention)
    return _weighted_order(questions, w, random.Random(seed))[:count]
