"""Turn what a learner hands in — a folder, a zip, a .py file or an .ipynb — into a folder of <topic>.py.

Only top-level `<topic>.py` files (and helper modules beside them) are kept; nothing from the
submission is ever put on the grader's own import path.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

MAX_UNZIPPED_BYTES = 200 * 2**20
MAX_FILES = 2000


class SubmissionError(ValueError):
    """The submission cannot be read at all (missing, not a known format, a hostile archive)."""


def _best_folder(root: Path, topics: list[str]) -> Path:
    """The folder under `root` that holds the most <topic>.py files (an `exercises/` of a clone wins)."""
    candidates = [root, *sorted(p for p in root.rglob("*") if p.is_dir() and "__MACOSX" not in p.parts)]
    def score(folder: Path) -> tuple[int, int]:
        return sum((folder / f"{t}.py").is_file() for t in topics), -len(folder.parts)
    return max(candidates, key=score)


def notebook_to_module(path: Path) -> str:
    """The Python source of a notebook: its nbgrader solution cells if it has any, else every code cell.

    IPython magics and shell escapes (lines starting with % or !) are dropped.
    """
    import nbformat  # imported here: it costs about a second and most submissions are folders

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types on bad JSON
        raise SubmissionError(f"{path.name} is not a readable notebook: {exc}") from None
    cells = [c for c in nb.cells if c.cell_type == "code"]
    graded = [c for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    chosen = graded or cells
    lines = []
    for cell in chosen:
        lines += [ln for ln in cell.source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        lines.append("")
    return "\n".join(lines) + "\n"


def _safe_extract(archive: Path, target: Path) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise SubmissionError(f"{archive.name} is not a valid zip file") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_FILES or sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
            raise SubmissionError(f"{archive.name} unpacks to more than {MAX_FILES} files or {MAX_UNZIPPED_BYTES >> 20} MiB")
        root = target.resolve()
        for info in infos:
            dest = (target / info.filename).resolve()
            if not dest.is_relative_to(root) or (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise SubmissionError(f"{archive.name} holds an unsafe entry {info.filename!r}")
        zf.extractall(target)


def prepare(path: Path, workdir: Path, topics: list[str]) -> Path:
    """Copy the submission into `workdir/submission` as top-level .py files; return that folder."""
    path = Path(path)
    if not path.exists():
        raise SubmissionError(f"submission {path} does not exist")
    out = workdir / "submission"
    out.mkdir(parents=True)
    if path.is_dir():
        source = _best_folder(path, topics)
    elif path.suffix == ".zip":
        unpacked = workdir / "unpacked"
        unpacked.mkdir()
        _safe_extract(path, unpacked)
        source = _best_folder(unpacked, topics)
    elif path.suffix == ".py":
        shutil.copy2(path, out / path.name)
        return out
    elif path.suffix == ".ipynb":
        (out / f"{path.stem}.py").write_text(notebook_to_module(path))
        return out
    else:
        raise SubmissionError(f"cannot grade {path.name}: expected a folder, a .zip, a .py or an .ipynb")
    for item in sorted(source.iterdir()):
        if item.is_file() and not item.is_symlink() and item.suffix == ".py":
            shutil.copy2(item, out / item.name)
        elif item.is_file() and item.suffix == ".ipynb" and item.stem in topics and not (source / f"{item.stem}.py").exists():
            (out / f"{item.stem}.py").write_text(notebook_to_module(item))
    return out
