"""Build the Gradescope autograder .zip: setup.sh and run_autograder at the top, the grader beside them.

The zip holds what grading needs and nothing a student must not see in a results page:
autograder/ (checks, probes, sandbox), mmprep/ (data), requirements.txt (minus notebook and lint
tools) and gradescope.json (topics, hidden checks, time limit). solutions/ is never included.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PACKAGES = ("autograder", "mmprep")
# mutants/: the checks' proof holds fragments of the reference solutions; a grading image needs none of it
SKIPPED = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", "mutants"}
# not needed to grade, and slow to install on every image build
UNNEEDED_REQUIREMENTS = {"jupyter", "nbgrader", "ruff", "hypothesis", "ipykernel", "nbclient"}


def grading_requirements(text: str) -> str:
    """requirements.txt without the packages only lessons, nbgrader or linting need, and without the course's own
    editable install (`-e .`): the bundle has no pyproject.toml, run_autograder puts its source on PYTHONPATH."""
    import re

    kept = []
    for line in text.splitlines():
        line = re.sub(r"\s+#.*$", "", line) if not line.lstrip().startswith("#") else line  # pip allows it, packaging not
        stripped = line.strip()
        name = re.split(r"[<>=!~\[; ]", stripped, maxsplit=1)[0].lower()
        if stripped and not stripped.startswith("#") and name in UNNEEDED_REQUIREMENTS:
            continue
        if stripped.startswith(("-e ", "--editable")) or stripped in (".", "./"):
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def _executable(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    info.external_attr = (0o100755 << 16)
    return info


def build_bundle(
    out: Path,
    topics: list[str],
    *,
    hidden: str = "",
    hidden_visibility: str = "after_published",
    timeout: float = 60.0,
    torch_index: str = "https://download.pytorch.org/whl/cpu",
    grader_args: list[str] | None = None,
    project_root: Path = PROJECT_ROOT,
) -> Path:
    """Write the bundle to `out` (a .zip); returns its path."""
    out = Path(out)
    if out.suffix != ".zip":
        raise ValueError(f"out must be a .zip path, got {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {"topics": list(topics), "hidden": hidden, "hidden_visibility": hidden_visibility,
              "timeout": float(timeout), "torch_index": torch_index, "grader_args": list(grader_args or [])}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for script in ("setup.sh", "run_autograder"):
            zf.writestr(_executable(zipfile.ZipInfo(script)), (HERE / script).read_text())
        zf.writestr("gradescope.json", json.dumps(config, indent=2) + "\n")
        zf.writestr("requirements.txt", grading_requirements((project_root / "requirements.txt").read_text()))
        for package in PACKAGES:
            for path in sorted((project_root / package).rglob("*")):
                if path.is_file() and not (set(path.relative_to(project_root).parts) & SKIPPED) and path.suffix != ".pyc":
                    zf.write(path, path.relative_to(project_root).as_posix())
    return out
