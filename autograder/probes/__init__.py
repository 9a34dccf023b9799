"""Trusted probes: helper functions that run inside the worker, next to the learner's code.

`student.probe("fusion.forward", ...)` calls `autograder.probes.fusion.forward(module, ..., device=...)`
where `module` is the learner's fusion.py. A probe builds, runs or trains the learner's modules
and returns plain data (arrays, numbers, dicts); verdicts are computed in the grader, never here.
"""
