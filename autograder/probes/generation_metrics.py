"""Probes for generation_metrics.py: the calls whose arguments cannot cross the wire.

`pope_questions` takes a NumPy Generator; this probe builds it from the check's seed, calls the
learner's function and returns the questions as plain lists. The checks judge them.
"""

from __future__ import annotations

import numpy as np


def pope_questions(module, image_objects, setting, num_per_image, seed, vocabulary=None, *, device: str):
    """The learner's pope_questions(image_objects, setting, num_per_image, default_rng(seed), vocabulary).

    Returns {"type": the returned value's type, "questions": [[image index, object, label], ...]}
    (an entry that is not a 3-item sequence comes back as it is, for the check to report).
    """
    generator = np.random.default_rng(int(seed))
    result = module.pope_questions([list(o) for o in image_objects], setting, num_per_image, generator,
                                   vocabulary=None if vocabulary is None else list(vocabulary))
    out = {"type": type(result).__name__, "questions": []}
    if isinstance(result, (list, tuple)):
        for item in result:
            if isinstance(item, (list, tuple)) and len(item) == 3:
                index, name, label = item
                out["questions"].append([int(index), str(name), int(label)])
            else:
                out["questions"].append(repr(item)[:80])
    return out
