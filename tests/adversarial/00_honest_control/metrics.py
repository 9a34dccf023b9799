"""Evaluation metrics for multimodal models: classification, regression, MOSI-style sentiment, retrieval.

Everything takes NumPy arrays (or anything `np.asarray` accepts) and returns Python floats or
NumPy arrays. Conventions follow scikit-learn (classification), MMSA (sentiment) and VSE++
(retrieval); each docstring says which, because papers disagree and interviewers ask.

Bad input raises ValueError naming the argument. The `_check_*` helpers at the top are given:
call them at the start of your implementation.
"""

from __future__ import annotations

# the honest part: unchanged reference code, copied in as _given.py when the battery runs
from ._given import (  # noqa: F401
    AVERAGES,
    _check_1d,
    _check_pair,
    _check_binary,
    _check_retrieval,
    _check_k,
    accuracy,
    confusion_matrix,
    precision_recall_f1,
    roc_curve,
    roc_auc,
    mae,
    mse,
    pearson_r,
    sentiment_metrics,
    _best_relevant_rank,
    recall_at_k,
    mean_reciprocal_rank,
    median_rank,
    mean_average_precision,
)

import numpy as np


# ----------------------------------------------------------------------------- given helpers


# ----------------------------------------------------------------------------- classification
    ### END SOLUTION


    ### END SOLUTION


    ### END SOLUTION


    ### END SOLUTION


    ### END SOLUTION


# ----------------------------------------------------------------------------- regression
    ### END SOLUTION


    ### END SOLUTION


    ### END SOLUTION


# ----------------------------------------------------------------------------- sentiment (MMSA)
    ### END SOLUTION


# ----------------------------------------------------------------------------- retrieval
    ### END SOLUTION


    ### END SOLUTION


    ### END SOLUTION


    ### END SOLUTION


    ### END SOLUTION
