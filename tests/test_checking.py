"""The graded checks' own helpers (autograder/checking.py), on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.checking import best_relevant_ranks, close, ranking


def test_ranking_sorts_by_score_then_lower_id():
    scores = np.array([[0.5, 0.9, 0.5, 0.1]])
    assert ranking(scores).tolist() == [[1, 0, 2, 3]], "ties (columns 0 and 2) go to the lower index"
    tied = np.ones((1, 3))
    assert ranking(tied, np.array([7, 3, 5])).tolist() == [[1, 2, 0]], "ties go to the lower id: 3, 5, 7"


def test_best_relevant_rank_is_the_first_relevant_position():
    scores = np.array([[0.5, 0.9, 0.5, 0.1],
                       [0.2, 0.2, 0.2, 0.2]])
    relevant = np.array([[False, False, True, True],
                         [False, False, False, False]])
    # row 0 ranks columns 1, 0, 2, 3: the first relevant one (2) is third; row 1 has none, so n = 4
    assert best_relevant_ranks(scores, relevant).tolist() == [2, 4]


def test_close_names_the_worst_entry_and_never_passes_nan():
    close([1.0, 2.0], [1.0, 2.0 + 1e-9], "equal enough")
    with pytest.raises(AssertionError, match=r"differs: got .* expected .*at entry 1"):
        close([1.0, 2.5], [1.0, 2.0], "differs")
    with pytest.raises(AssertionError, match="non-finite"):
        close([np.nan], [1.0], "nan")
    with pytest.raises(AssertionError, match="shape"):
        close([1.0, 2.0], [1.0], "shape")
