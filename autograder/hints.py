"""The hint ladder: three levels per task, written next to the reference solution and stripped from the stubs.

In `solutions/<topic>.py`, inside a task's `### BEGIN SOLUTION` block (so `generate` never copies them into
exercises/), a hint is a `### HINT n` line followed by comment lines:

    ### BEGIN SOLUTION
    ### HINT 1
    # The concept, and the pitfall people fall into.
    ### HINT 2
    # The approach step by step, with shapes.
    ### HINT 3
    # The key line or two.
    ### END HINTS
    ...the solution...
    ### END SOLUTION

A task (the top-level function or class holding the block) may spread its levels over several blocks (a class's
`__init__` and `forward`); the texts of one level are joined in file order. Only hint text is ever shown,
never the solution's code. Level n+1 opens after a graded attempt at the task failed since level n was shown
(autograder.progress); instructors pass force=True.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from autograder.stubgen import BEGIN, END, SOLUTIONS, StubError, _enclosing

LEVELS = 3
LEVEL_NAMES = {1: "the concept and the pitfall", 2: "the approach, step by step", 3: "the key line"}
HINT = re.compile(r"^### HINT (\d)\s*$")
END_HINTS = "### END HINTS"


class HintError(ValueError):
    pass


def parse_hints(source: str, filename: str = "") -> dict[str, dict[int, str]]:
    """{task: {level: text}} from a solution module's hint blocks."""
    tree = ast.parse(source, filename=filename or "<solution>")
    hints: dict[str, dict[int, list[str]]] = {}
    in_block, level, task = False, None, None
    for number, raw in enumerate(source.splitlines(), start=1):
        line = raw.strip()
        if line == BEGIN:
            in_block, level = True, None
            task = _enclosing(tree, number)[0]
        elif line == END:
            in_block, level = False, None
        elif not in_block:
            continue
        elif match := HINT.match(line):
            level = int(match.group(1))
            if not 1 <= level <= LEVELS:
                raise HintError(f"{filename}:{number}: hint level {level} (levels are 1..{LEVELS})")
            hints.setdefault(task, {}).setdefault(level, [])
        elif line == END_HINTS:
            level = None
        elif level is not None:
            if not line.startswith("#"):
                raise HintError(f"{filename}:{number}: a hint is comment lines; close it with {END_HINTS!r} before code")
            text = raw.strip()
            hints[task][level].append((text[2:] if text.startswith("# ") else text[1:]).rstrip())  # keep indents
    return {t: {lv: "\n".join(text).strip() for lv, text in sorted(levels.items())} for t, levels in hints.items()}


def strip_hints(source: str) -> str:
    """The source without its hint blocks (comments only: the code is unchanged)."""
    out, skipping = [], False
    for raw in source.splitlines(keepends=True):
        line = raw.strip()
        if HINT.match(line):
            skipping = True
        elif skipping and line == END_HINTS:
            skipping = False
            continue
        if not skipping:
            out.append(raw)
    return "".join(out)


def hints_for(topic: str, solutions: Path = SOLUTIONS) -> dict[str, dict[int, str]]:
    path = solutions / f"{topic}.py"
    if not path.exists():
        raise HintError(f"no hints for {topic}: {path} is not here (hints are written next to the solutions)")
    try:
        return parse_hints(path.read_text(encoding="utf-8"), f"solutions/{topic}.py")
    except StubError as exc:
        raise HintError(str(exc)) from None


def parse_task(spec: str) -> tuple[str, str]:
    """'fusion.TensorFusion' -> ('fusion', 'TensorFusion'); ValueError naming the problem."""
    from autograder.grading import available_topics, tasks_of

    topic, _, task = str(spec).partition(".")
    if topic not in available_topics():
        raise ValueError(f"unknown topic {topic!r} in {spec!r}; topics are {', '.join(available_topics())}")
    if not task or task not in tasks_of(topic):
        raise ValueError(f"{topic} has no task {task!r}; its tasks are {', '.join(tasks_of(topic))}")
    return topic, task


def show(spec: str, level: int | None = None, *, force: bool = False, progress=None) -> str:
    """The hint text for TOPIC.TASK: all levels up to `level` (default: the highest open one).

    Raises HintError when the level is not open yet (and not forced). Records the level shown.
    """
    from autograder.progress import Progress

    topic, task = parse_task(spec)
    ladder = hints_for(topic).get(task, {})
    if not ladder:
        raise HintError(f"{spec} has no hints yet")
    progress = progress if progress is not None else Progress()
    open_level = LEVELS if force else min(LEVELS, progress.hint_levels_open(topic, task))
    wanted = open_level if level is None else int(level)
    if not 1 <= wanted <= LEVELS:
        raise HintError(f"level must be 1..{LEVELS}, got {wanted}")
    if wanted > open_level:
        raise HintError(f"hint {wanted} for {spec} opens after a graded attempt fails since hint {open_level} was shown: "
                        f"try your fix, grade it with `python -m autograder --only {spec}`, then ask again")
    progress.record_hint(topic, task, wanted)
    parts = [f"Hint {n}/{LEVELS} for {spec} — {LEVEL_NAMES[n]}:\n{ladder[n]}" for n in range(1, wanted + 1) if n in ladder]
    if wanted < LEVELS:
        parts.append(f"(hint {wanted + 1} opens after your next graded attempt at {spec} fails)")
    return "\n\n".join(parts)
