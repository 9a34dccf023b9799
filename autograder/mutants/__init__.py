"""Proving the checks: a catalogue of realistic learner bugs (mutants) and valid variants per topic.

A check is only worth the wrong code it rejects. `autograder/mutants/<topic>.py` lists, for every graded
task of the topic, small edits of the reference solution (`solutions/<topic>.py`):

* a `Mutant` is a slip people really make (wrong axis, missing scale, padding leaking into a mean, ...).
  It must lose points **on its own task**, and the first failing check's feedback line must match
  `feedback` (a case-insensitive regular expression naming the property that failed);
* a `Variant` is another correct way to write the same thing (a loop instead of a vector op, float64,
  another initialisation). It must keep every point of the tasks it touches.

`python -m autograder mutants [--only TOPIC[.TASK]]` grades every entry in-process with a fixed seed,
in parallel, and prints a table; `tests/test_mutants.py` fails the suite when an entry misbehaves.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
MUTANT_SEED = 7  # fixed: the catalogue's verdicts are reproducible; `--seed` tries others


class CatalogueError(Exception):
    """A catalogue entry that cannot be applied to the current reference solution."""


Edit = tuple[str, str]


@dataclass(frozen=True)
class Mutant:
    """A realistic learner bug: `edits` turn the reference into it; it must lose points on `task`."""

    name: str
    task: str
    edits: tuple[Edit, ...]
    feedback: str  # regex (case-insensitive) the first failing feedback line of `task` must match
    why: str = ""  # the slip, in words

    @property
    def tasks(self) -> tuple[str, ...]:
        return (self.task,)


@dataclass(frozen=True)
class Variant:
    """Another correct implementation: it must keep full marks on every task in `tasks`."""

    name: str
    tasks: tuple[str, ...]
    edits: tuple[Edit, ...]
    why: str = ""


Entry = Mutant | Variant


def mutant(name: str, task: str, *edits: Edit, feedback: str, why: str = "") -> Mutant:
    return Mutant(name, task, tuple(edits), feedback, why)


def variant(name: str, tasks: str | tuple[str, ...], *edits: Edit, why: str = "") -> Variant:
    return Variant(name, (tasks,) if isinstance(tasks, str) else tuple(tasks), tuple(edits), why)


def apply_edits(source: str, edits: tuple[Edit, ...], where: str = "the solution") -> str:
    """Apply (old, new) replacements in order; each `old` must occur exactly once at its turn."""
    if not edits:
        raise CatalogueError(f"{where}: an entry needs at least one edit")
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            shown = old.strip().splitlines()[0][:80] if old.strip() else repr(old)
            raise CatalogueError(f"{where}: edit target occurs {count} times (needs exactly 1): {shown!r}")
        if old == new:
            raise CatalogueError(f"{where}: an edit that changes nothing: {old.strip()[:80]!r}")
        source = source.replace(old, new)
    return source


def catalogue_topics() -> list[str]:
    from autograder.grading import available_topics

    here = Path(__file__).resolve().parent
    return [t for t in available_topics() if (here / f"{t}.py").exists()]


def catalogue(topic: str) -> list[Entry]:
    """The mutants, then the variants, of one topic."""
    module = importlib.import_module(f"autograder.mutants.{topic}")
    return [*module.MUTANTS, *module.VARIANTS]


def find(topic: str, name: str) -> Entry:
    for entry in catalogue(topic):
        if entry.name == name:
            return entry
    raise KeyError(f"{topic} has no catalogue entry {name!r}")


def mutated_source(topic: str, entry: Entry) -> str:
    """The reference with the entry's edits, applied to the code only (hint comments quote code lines)."""
    from autograder.hints import strip_hints

    source = strip_hints((SOLUTIONS / f"{topic}.py").read_text())
    return apply_edits(source, entry.edits, f"{topic}:{entry.name}")


@dataclass
class Outcome:
    topic: str
    name: str
    kind: str  # "mutant" | "variant"
    tasks: tuple[str, ...]
    possible: float
    earned: float
    feedback: str  # first failing check's line among `tasks` ("" when all passed)
    expected_feedback: str = ""
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0  # grading time of this entry

    @property
    def caught(self) -> bool:
        return self.earned < self.possible

    @property
    def feedback_ok(self) -> bool:
        return self.kind == "variant" or bool(re.search(self.expected_feedback, self.feedback, re.IGNORECASE))

    @property
    def ok(self) -> bool:
        if self.problems or self.possible == 0:
            return False
        if self.kind == "variant":
            return not self.caught
        return self.caught and self.feedback_ok

    def verdict(self) -> str:
        if self.problems or self.possible == 0:
            return "ERROR"
        if self.kind == "variant":
            return "kept" if not self.caught else "LOST POINTS"
        if not self.caught:
            return "MISSED"
        return "caught" if self.feedback_ok else "caught, VAGUE FEEDBACK"


def grade_entry(topic: str, entry: Entry, *, seed: int = MUTANT_SEED, device: str = "cpu",
                timeout: float = 120.0, fast: bool = False) -> Outcome:
    """Grade one catalogue entry in-process on its own task(s) only.

    fast=True stops a mutant's grading at its first failing check: enough to prove it caught (the checks after it,
    often training, need not run), but `earned`/`possible` then cover only the checks that ran.
    """
    from autograder.grading import grade

    kind = "mutant" if isinstance(entry, Mutant) else "variant"
    expected = entry.feedback if isinstance(entry, Mutant) else ""
    try:
        source = mutated_source(topic, entry)
    except CatalogueError as exc:
        return Outcome(topic, entry.name, kind, entry.tasks, 0.0, 0.0, "", expected, [str(exc)])
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{topic}-") as tmp:
        for sibling in SOLUTIONS.glob("*.py"):  # a topic may import another (`from .metrics import ...`)
            if sibling.name != f"{topic}.py":
                shutil.copy(sibling, Path(tmp) / sibling.name)
        (Path(tmp) / f"{topic}.py").write_text(source)
        report = grade(Path(tmp), [topic], device=device, seed=seed, sandbox=False, timeout=timeout,
                       tasks={topic: set(entry.tasks)}, first_failure=fast and kind == "mutant")
    checks = [c for c in report.checks if c.task in entry.tasks]
    failing = [c.feedback for c in checks if not c.passed]
    problems = list(report.problems)
    missing = set(entry.tasks) - {c.task for c in checks}
    if missing:
        problems.append(f"no graded check ran for task(s) {sorted(missing)}")
    return Outcome(topic, entry.name, kind, entry.tasks, sum(c.points for c in checks),
                   sum(c.points for c in checks if c.passed), failing[0] if failing else "", expected, problems,
                   round(time.monotonic() - started, 2))


def _grade_in_worker(args: tuple[str, str, int, str, bool]) -> Outcome:
    topic, name, seed, device, fast = args
    return grade_entry(topic, find(topic, name), seed=seed, device=device, fast=fast)


def _one_thread() -> None:
    """One compute thread in this process (the pool's processes share the cores; one each is fastest here).

    torch is not imported for it: a metrics-only selection never needs torch, whose import costs seconds.
    """
    os.environ["OMP_NUM_THREADS"] = "1"  # read by torch's OpenMP runtime when torch is first imported
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def grade_catalogue(selection: list[tuple[str, Entry]], *, seed: int = MUTANT_SEED, device: str = "cpu",
                    jobs: int = 1, fast: bool = False, progress=None) -> list[Outcome]:
    """Grade many entries, in `jobs` processes (spawned: torch is not fork-safe once used)."""
    work = [(topic, entry.name, seed, device, fast) for topic, entry in selection]
    if jobs <= 1:
        _one_thread()
        outcomes = []
        for item in work:
            outcomes.append(_grade_in_worker(item))
            if progress:
                progress(outcomes[-1])
        return outcomes
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as pool:
        outcomes = []
        for outcome in pool.map(_grade_in_worker, work):
            outcomes.append(outcome)
            if progress:
                progress(outcome)
        return outcomes


def render(outcomes: list[Outcome], before: dict[tuple[str, str], float] | None = None, width: int = 60) -> str:
    """The table: entry, target task, points before (reference) / after, verdict, first feedback line."""
    before = before or {}
    rows = [("entry", "task", "before", "after", "verdict", "first feedback line")]
    for o in outcomes:
        ref = sum(before.get((o.topic, t), o.possible) for t in o.tasks)
        line = "; ".join(o.problems) if o.problems else o.feedback
        rows.append((f"{o.topic}:{o.name}" + (" (variant)" if o.kind == "variant" else ""), ",".join(o.tasks),
                     f"{ref:g}/{o.possible:g}", f"{o.earned:g}/{o.possible:g}", o.verdict(),
                     line if len(line) <= width else line[: width - 1] + "…"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:5], widths, strict=True)) + "  " + r[5] for r in rows]
    lines.insert(1, "-" * min(160, len(lines[0]) + 20))
    found = [o for o in outcomes if o.kind == "mutant"]
    caught = sum(o.caught and not o.problems for o in found)
    kept = [o for o in outcomes if o.kind == "variant"]
    vague = sum(o.caught and not o.feedback_ok for o in found)
    per_topic = {}
    for o in found:
        per_topic[o.topic] = per_topic.get(o.topic, 0) + 1
    lines += ["",
              f"Mutants caught on their own task: {caught}/{len(found)} "
              f"({100.0 * caught / max(1, len(found)):.1f}% kill rate); feedback naming the property: "
              f"{caught - vague}/{caught}",
              f"Valid variants keeping full marks: {sum(o.ok for o in kept)}/{len(kept)}",
              "Mutants per topic: " + ", ".join(f"{t} {n}" for t, n in per_topic.items())]
    return "\n".join(lines)
