"""The checks are proven by the wrong code they reject: every catalogued mutant loses points on its own task
with feedback naming the property; every valid variant keeps full marks (autograder/mutants/)."""

from __future__ import annotations

import pytest

from autograder import mutants
from autograder.grading import available_topics, tasks_of
from autograder.mutants import (
    CatalogueError,
    Mutant,
    apply_edits,
    catalogue,
    catalogue_topics,
    grade_entry,
)
from tests.conftest import run_cli

ENTRIES = [(topic, entry) for topic in catalogue_topics() for entry in catalogue(topic)]


def test_every_topic_has_a_catalogue():
    assert catalogue_topics() == available_topics(), "each graded topic needs autograder/mutants/<topic>.py"


@pytest.mark.parametrize("topic", available_topics())
def test_every_task_has_three_mutants_that_apply(topic):
    entries = catalogue(topic)
    names = [e.name for e in entries]
    assert len(names) == len(set(names)), f"{topic}: duplicate entry names"
    tasks = tasks_of(topic)
    for entry in entries:
        assert set(entry.tasks) <= set(tasks), f"{topic}:{entry.name} names unknown task(s) {entry.tasks}; tasks: {tasks}"
        mutants.mutated_source(topic, entry)  # every edit applies exactly once to today's reference
        if isinstance(entry, Mutant):
            assert entry.feedback and entry.why, f"{topic}:{entry.name}: say the slip (why) and the feedback expected"
    thin = {t: n for t in tasks if (n := sum(isinstance(e, Mutant) and e.task == t for e in entries)) < 3}
    assert not thin, f"{topic}: tasks with fewer than 3 mutants: {thin}"


def test_apply_edits_refuses_ambiguous_or_missing_targets():
    with pytest.raises(CatalogueError, match="occurs 2 times"):
        apply_edits("x = 1\nx = 1\n", (("x = 1", "x = 2"),))
    with pytest.raises(CatalogueError, match="occurs 0 times"):
        apply_edits("x = 1\n", (("y = 1", "y = 2"),))
    with pytest.raises(CatalogueError, match="changes nothing"):
        apply_edits("x = 1\n", (("x = 1", "x = 1"),))
    assert apply_edits("a = 1\nb = a\n", (("a = 1", "a = 2"), ("b = a", "b = -a"))) == "a = 2\nb = -a\n"


@pytest.mark.slow
@pytest.mark.parametrize("topic,entry", ENTRIES, ids=[f"{t}:{e.name}" for t, e in ENTRIES])
def test_catalogue_entry(topic, entry, cli_device):
    outcome = grade_entry(topic, entry, device=cli_device, fast=True)  # the first failing check proves a catch
    assert not outcome.problems, f"{topic}:{entry.name}: {outcome.problems}"
    assert outcome.possible > 0, f"{topic}:{entry.name}: no check of {entry.tasks} ran"
    if isinstance(entry, Mutant):
        assert outcome.caught, (f"mutant {topic}:{entry.name} ({entry.why}) kept full marks on {entry.task}: "
                                f"{outcome.earned:g}/{outcome.possible:g}")
        assert outcome.feedback_ok, (f"mutant {topic}:{entry.name}: feedback {outcome.feedback!r} does not name the "
                                     f"property (expected to match {entry.feedback!r})")
    else:
        assert not outcome.caught, (f"valid variant {topic}:{entry.name} ({entry.why}) lost points: "
                                    f"{outcome.earned:g}/{outcome.possible:g}: {outcome.feedback}")


def test_mutants_command_prints_the_table():
    done = run_cli("mutants", "--only", "metrics.accuracy", "--jobs", "1", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kill rate" in done.stdout and "metrics:" in done.stdout and "caught" in done.stdout, done.stdout
    bad = run_cli("mutants", "--only", "metrics.no_such_task")
    assert bad.returncode == 2 and "no_such_task" in bad.stderr
