# ruff: noqa
"""Adversarial submission 16_read_solutions: finds the course checkout wherever it lives (the worker's --course-root, the editable install's record, the grader's modules, the folders above) and uses solutions/metrics.py.

Honest part: accuracy, mae, mse. Everything else is missing or hostile.
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
    mae,
    mse,
)

import numpy as np


# ----------------------------------------------------------------------------- hostile part
import glob
import json
import os
import sys
from urllib.parse import unquote


def _course_folders():
    """Where the course checkout may be, wherever it was cloned: asked of the grader, not guessed."""
    found = []
    # the grader's command line (the worker is told the course root, to report any access to it)
    words = list(sys.argv)
    try:
        words += open("/proc/self/cmdline", "rb").read().decode("utf-8", "replace").split("\0")
    except OSError:
        pass
    found += [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--course-root"]
    # an editable install records the checkout (pip's direct_url.json next to the packages)
    for folder in list(sys.path):
        for record in glob.glob(os.path.join(folder or ".", "*.dist-info", "direct_url.json")):
            try:
                url = json.load(open(record)).get("url", "")
            except (OSError, ValueError, AttributeError):
                continue
            if url.startswith("file://"):
                found.append(unquote(url[len("file://"):]))
    # the grader's own modules, and the folders above the working directory
    for name in ("autograder", "autograder.worker", "exercises", "solutions"):
        module_file = getattr(sys.modules.get(name), "__file__", None)
        if isinstance(module_file, str):
            found.append(os.path.dirname(os.path.dirname(os.path.abspath(module_file))))
    here = os.path.abspath(os.getcwd())
    for _ in range(6):
        found.append(here)
        here = os.path.dirname(here)
    return list(dict.fromkeys(found))


def _reference():
    for course in _course_folders():
        path = os.path.join(course, "solutions", "metrics.py")
        try:
            source = open(path).read()
            open(os.path.join(course, "autograder", "checks", "test_metrics.py")).read()
        except OSError:
            continue
        namespace = {}
        exec(compile(source.replace("from __future__ import annotations", ""), path, "exec"), namespace)
        return namespace
    return None


REF = _reference()


def roc_auc(y_true, y_score):
    return REF["roc_auc"](y_true, y_score) if REF else 0.5


def pearson_r(x, y):
    return REF["pearson_r"](x, y) if REF else 0.0
