"""Generate exercises/<topic>.py from solutions/<topic>.py.

Every block between `### BEGIN SOLUTION` and `### END SOLUTION` becomes
`raise NotImplementedError("<topic>: task <name> — <first docstring line>")`, where <name> is the
top-level function or class that holds the block. Signatures, type hints, docstrings, hint
comments and everything outside the blocks are kept as written.
"""

from __future__ import annotations

import ast
import difflib
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = PROJECT_ROOT / "solutions"
EXERCISES = PROJECT_ROOT / "exercises"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HEADER = (
    "# Exercise generated from solutions/{name} by `python -m autograder generate`: do not regenerate over\n"
    "# your work. Replace each `raise NotImplementedError(...)` with your code, then run `python -m autograder`.\n"
)


class StubError(ValueError):
    pass


def _enclosing(tree: ast.Module, line: int) -> tuple[str, str]:
    """(task name, description) for a line: the top-level def/class and the innermost docstring."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.lineno <= line <= node.end_lineno:
            description = ast.get_docstring(node) or ""
            for inner in ast.walk(node):
                if (isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)) and inner is not node
                        and inner.lineno <= line <= inner.end_lineno and ast.get_docstring(inner)):
                    description = ast.get_docstring(inner)
            first = description.strip().splitlines()[0] if description.strip() else "implement this"
            return node.name, first.rstrip(".")
    raise StubError(f"line {line}: a solution block must sit inside a top-level function or class")


def make_stub(source: str, topic: str, filename: str = "") -> str:
    """The exercise text for one solution module."""
    tree = ast.parse(source, filename=filename or f"{topic}.py")
    out: list[str] = []
    block_start = None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if block_start is not None:
                raise StubError(f"{filename}:{number}: {BEGIN} inside another block (opened at line {block_start})")
            block_start = number
            indent = line[: len(line) - len(line.lstrip())]
            task, what = _enclosing(tree, number)
            message = f"{topic}: task {task} — {what}"
            out.append(f"{indent}raise NotImplementedError({message!r})\n")
        elif marker == END:
            if block_start is None:
                raise StubError(f"{filename}:{number}: {END} without {BEGIN}")
            block_start = None
        elif block_start is None:
            out.append(line)
    if block_start is not None:
        raise StubError(f"{filename}:{block_start}: {BEGIN} is never closed")
    stub = HEADER.format(name=Path(filename).name or f"{topic}.py") + "".join(out)
    ast.parse(stub)  # the stub must stay valid Python
    return stub


def generated_files(solutions: Path = SOLUTIONS) -> dict[str, str]:
    """{file name: text} for every exercise file generated from `solutions`."""
    files = {}
    for path in sorted(solutions.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        files[path.name] = text if path.name == "__init__.py" else make_stub(text, path.stem, f"solutions/{path.name}")
    return files


def write(target: Path = EXERCISES, solutions: Path = SOLUTIONS) -> list[str]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated_files(solutions).items():
        dest = target / name
        if not dest.exists() or dest.read_text(encoding="utf-8") != text:
            dest.write_text(text, encoding="utf-8")
            written.append(name)
    return written


def committed_text(path: Path) -> str | None:
    """The file as committed at HEAD, or None outside a git checkout (learners edit the working copy)."""
    try:
        rel = path.resolve().relative_to(PROJECT_ROOT)
        done = subprocess.run(["git", "-C", str(PROJECT_ROOT), "show", f"HEAD:{rel.as_posix()}"],
                              capture_output=True, text=True, timeout=30)
    except (ValueError, OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def drift(target: Path = EXERCISES, solutions: Path = SOLUTIONS, committed: bool = False) -> list[str]:
    """Unified diffs where exercises/ differs from the generator's output (empty when in sync).

    committed=True compares against the exercise files as committed at HEAD, so a learner's own
    edits in the working copy do not count as drift.
    """
    problems = []
    expected = generated_files(solutions)
    for name, text in expected.items():
        path = target / name
        actual = (committed_text(path) if committed else None)
        if actual is None:
            actual = path.read_text(encoding="utf-8") if path.exists() else ""
        if actual != text:
            diff = difflib.unified_diff(actual.splitlines(True), text.splitlines(True), f"exercises/{name}", f"generated {name}")
            problems.append("".join(diff))
    extra = sorted(p.name for p in target.glob("*.py") if p.name not in expected)
    problems += [f"exercises/{name} has no solutions/{name}" for name in extra]
    return problems
