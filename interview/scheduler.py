"""Spaced repetition: which questions a drill draws.

A Leitner system with a topic boost, simple enough to state in one line each:

* every question sits in a box 1..5 (new questions in box 1); self-score 2 moves it up one box,
  1 keeps it, 0 sends it back to box 1 (`history.next_box`);
* a question's weight is ``2 ** (5 - box)``: box 1 -> 16, box 5 -> 1, so a mastered question
  comes back about 16 times less often than a new or missed one;
* the weight is multiplied by ``1 + 2 * weakness(topic)``, with weakness = 1 - (mean self-score / 2)
  over the topic's past answers (0 for topics not tried yet), so a weak topic's *unseen* questions
  come up more often too;
* a session draws `count` distinct questions with probability proportional to weight
  (Efraimidis–Spirakis weighted sampling without replacement), from `random.Random(seed)`:
  the same seed and history give the same session.
"""

from __future__ import annotations

import random

from interview.history import MAX_BOX, MAX_SCORE

TOPIC_BOOST = 2.0


def topic_weakness(topic_scores: dict[str, tuple[int, float]]) -> dict[str, float]:
    """topic -> weakness in [0, 1]: 1 - mean self-score / 2 (topics never answered are absent)."""
    return {topic: 1.0 - mean / MAX_SCORE for topic, (n, mean) in topic_scores.items() if n > 0}


def question_weight(box: int, weakness: float = 0.0) -> float:
    if not 1 <= box <= MAX_BOX:
        raise ValueError(f"box must be in 1..{MAX_BOX}, got {box}")
    if not 0.0 <= weakness <= 1.0:
        raise ValueError(f"weakness must be in [0, 1], got {weakness}")
    return float(2 ** (MAX_BOX - box)) * (1.0 + TOPIC_BOOST * weakness)


def weights(questions: list[dict], boxes: dict[str, int], topic_scores: dict[str, tuple[int, float]]) -> list[float]:
    weak = topic_weakness(topic_scores)
    return [question_weight(boxes.get(q["id"], 1), weak.get(q["topic"], 0.0)) for q in questions]


def draw(questions: list[dict], count: int, boxes: dict[str, int], topic_scores: dict[str, tuple[int, float]],
         seed: int | None = None) -> list[dict]:
    """`count` distinct questions (all of them if fewer), weak ones more likely, heaviest-key first."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    rng = random.Random(seed)
    w = weights(questions, boxes, topic_scores)
    # Efraimidis–Spirakis: key u ** (1 / w); the k largest keys are a weighted sample without replacement.
    keyed = sorted(((rng.random() ** (1.0 / wi), i) for i, wi in enumerate(w)), reverse=True)
    return [questions[i] for _, i in keyed[:count]]
