"""Trusted probes: helper functions that run inside the worker, next to the learner's code.

`student.probe("fusion.forward", ...)` calls `autograder.probes.fusion.forward(module, ..., device=...)`
where `module` is the learner's fusion.py. A probe builds, runs or trains the learner's modules
and returns plain data (arrays, numbers, dicts); verdicts are computed in the grader, never here.
"""

import contextlib


@contextlib.contextmanager
def one_cpu_thread():
    """Run a block (or, as a decorator, a probe) on one torch CPU thread, then restore the setting.

    The course's models are tiny: on a shared machine extra threads only contend with each other
    (100 ms training steps became 1 s on two busy cores).
    """
    import torch  # not at import time: the worker imports torch only for topics that use it

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
