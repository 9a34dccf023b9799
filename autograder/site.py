"""A static site of the lessons, readable without running them: `python -m autograder site [--out site]`.

Each lesson is executed (nbclient, as the test suite does) and exported with nbconvert's HTML "lab" template:
figures inline, formulas rendered by a MathJax copied from the `jupyter-server-mathjax` package into the site, so
nothing is fetched from a CDN and the site works offline (open `site/index.html`). A front page holds the course
map: lesson -> exercise -> graded tasks -> question-bank topics.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LESSONS = PROJECT_ROOT / "lessons"
DEFAULT_OUT = PROJECT_ROOT / "site"
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"  # the config the package ships
# which exercise topics each lesson teaches (by the lesson's number)
LESSON_TOPICS = {"01": ["metrics"], "02": ["fusion"], "03": ["alignment"], "04": ["sentiment"], "05": ["retrieval"],
                 "07": ["optimization"], "09": ["mllm"], "10": ["generation_metrics", "adaptation"]}
FONT_CONFIG = ('<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {availableFonts: ["STIX-Web"], '
               'preferredFont: "STIX-Web", webFont: "STIX-Web", imageFont: null}});</script>')
CSS = """
nav.course { font: 14px system-ui, sans-serif; padding: 8px 16px; background: #f3f4f6; border-bottom: 1px solid #ddd;
             display: flex; gap: 16px; }
nav.course a { color: #1f4e9c; text-decoration: none; } nav.course a:hover { text-decoration: underline; }
body.map { font: 15px system-ui, sans-serif; max-width: 1100px; margin: 24px auto; padding: 0 16px; }
table.map { border-collapse: collapse; width: 100%; } table.map td, table.map th { border: 1px solid #ddd;
            padding: 6px 8px; vertical-align: top; text-align: left; } table.map code { font-size: 13px; }
"""


class SiteError(RuntimeError):
    pass


def lesson_paths(only: list[str] | None = None) -> list[Path]:
    paths = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = set(only)
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            raise ValueError(f"--lessons: no lesson numbered {sorted(unknown)}; lessons are "
                             f"{', '.join(p.name[:2] for p in paths)}")
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return "Lesson"


def execute(path: Path, timeout: int):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # the kernel inherits it: figures inline
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def export(nb) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", mathjax_url=MATHJAX_URL, require_js_url="", jquery_url="",
                            widget_renderer_url="", mermaid_js_url="", mermaid_layout_elk_js_url="")
    body, _ = exporter.from_notebook_node(nb)
    # the packaged MathJax ships the STIX-Web fonts only: name them, or it asks for TeX fonts it does not have
    body = body.replace("<!-- Load mathjax -->", FONT_CONFIG + "<!-- Load mathjax -->", 1)
    # nothing from the network: drop any script or stylesheet that still points at a remote URL
    body = re.sub(r'<script[^>]+src="(https?://[^"]*)?"[^>]*>\s*</script>', "", body)
    body = re.sub(r'<link[^>]+href="https?://[^"]*"[^>]*>', "", body)
    return body


def nav(entries: list[tuple[str, str]], index: int) -> str:
    links = ['<a href="index.html">Course map</a>']
    if index > 0:
        links.append(f'<a rel="prev" href="{entries[index - 1][0]}">← {html.escape(entries[index - 1][1])}</a>')
    if index + 1 < len(entries):
        links.append(f'<a rel="next" href="{entries[index + 1][0]}">Next: {html.escape(entries[index + 1][1])} →</a>')
    return f'<nav class="course">{" ".join(links)}</nav>'


def course_map(entries: list[tuple[str, str]], paths: list[Path]) -> str:
    from autograder.grading import available_topics, tasks_of
    from interview.bank import all_questions

    questions = all_questions()
    rows = []
    for (page, title), path in zip(entries, paths, strict=True):
        topics = [t for t in LESSON_TOPICS.get(path.name[:2], []) if t in available_topics()]
        exercise = "<br>".join(f"<code>exercises/{t}.py</code>" for t in topics) or "—"
        tasks = "<br>".join(f"<b>{t}</b>: " + ", ".join(f"<code>{k}</code>" for k in tasks_of(t)) for t in topics) or "—"
        linked: dict[str, int] = {}
        for q in questions:
            if f"lessons/{path.name}" in q["links"]["lessons"]:
                linked[q["topic"]] = linked.get(q["topic"], 0) + 1
        bank = ", ".join(f"{t} ({n})" for t, n in sorted(linked.items())) or "—"
        rows.append(f'<tr><td><a href="{page}">{html.escape(title)}</a></td><td>{exercise}</td><td>{tasks}</td>'
                    f"<td>{bank}</td></tr>")
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Multimodal deep learning — course map</title>"
            f"<style>{CSS}</style></head><body class='map'><h1>Multimodal deep learning — interview preparation</h1>"
            "<p>Lessons executed on a CPU, with their figures. Grade your exercises with "
            "<code>python -m autograder</code>; one task with <code>--only TOPIC.TASK</code>; hints with "
            "<code>python -m autograder hint TOPIC.TASK</code>; drill with <code>python -m interview</code>.</p>"
            "<table class='map'><tr><th>lesson</th><th>exercise</th><th>graded tasks</th>"
            "<th>question-bank topics (questions)</th></tr>" + "".join(rows) + "</table></body></html>")


def build(out: Path = DEFAULT_OUT, only: list[str] | None = None, timeout: int = 600, progress=print) -> list[Path]:
    """Execute and export the lessons into `out`; returns the pages written (index first)."""
    import jupyter_server_mathjax

    paths = lesson_paths(only)
    if not paths:
        raise ValueError("no lessons to build")
    out.mkdir(parents=True, exist_ok=True)
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (out / "mathjax" / "MathJax.js").exists():
        shutil.copytree(mathjax, out / "mathjax", dirs_exist_ok=True)
    notebooks, entries = [], []
    for path in paths:
        started = time.monotonic()
        try:
            nb = execute(path, timeout)
        except Exception as exc:  # a lesson that fails must say which, in one line
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise SiteError(f"{path.name} did not run: {first}") from None
        notebooks.append(nb)
        entries.append((path.stem + ".html", title_of(nb)))
        progress(f"executed {path.name} in {time.monotonic() - started:.1f} s")
    written = [out / "index.html"]
    (out / "index.html").write_text(course_map(entries, paths), encoding="utf-8")
    for i, nb in enumerate(notebooks):
        page = export(nb).replace("<body", f"<body data-lesson='{paths[i].stem}'", 1)
        header = f"<style>{CSS}</style>" + nav(entries, i)
        page = re.sub(r"(<body[^>]*>)", lambda m, header=header: m.group(1) + header, page, count=1)
        (out / entries[i][0]).write_text(page, encoding="utf-8")
        written.append(out / entries[i][0])
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder site",
                                description="Build a static, offline site of the executed lessons (figures, rendered "
                                "formulas, a course map). Open OUT/index.html in a browser.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT.name}/, git-ignored)")
    p.add_argument("--lessons", metavar="NN[,NN]", help="only these lessons, by number (default: all)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = p.parse_args(argv)
    try:
        pages = build(args.out, args.lessons.split(",") if args.lessons else None, args.timeout)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    print(f"wrote {len(pages)} pages to {args.out} — open {args.out / 'index.html'}")
    return 0
