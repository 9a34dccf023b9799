"""Export the bank to an Anki package (.apkg) with genanki.

One note per question and language: the question (and its code) on the front; the model answer,
the key points and the follow-ups (with their answers once written) on the back; tags for the topic,
the difficulty and the language. Note GUIDs come from the question id and the language, and the
model and deck ids are constants, so importing a newer export updates the same cards (and keeps
their review history) instead of adding duplicates.
"""

from __future__ import annotations

import html
from pathlib import Path

from interview.bank import LANGUAGES, follow_up_question, topic_titles

MODEL_ID = 1_607_392_319  # fixed forever: Anki matches note types by id
DECK_IDS = {"en": 2_059_400_110, "zh": 2_059_400_111}
DECK_NAMES = {"en": "Multimodal interview::English", "zh": "Multimodal interview::中文"}
LABELS = {
    "en": {"answer": "Model answer", "key_points": "Key points", "follow_ups": "Follow-ups", "study": "Study"},
    "zh": {"answer": "参考答案", "key_points": "要点", "follow_ups": "追问", "study": "复习"},
}
CSS = """.card { font-family: -apple-system, "Segoe UI", "PingFang SC", "Noto Sans CJK SC", sans-serif; font-size: 18px;
  text-align: left; line-height: 1.5; }
.meta { color: #888; font-size: 14px; } pre { background: #f4f4f4; padding: 8px; white-space: pre-wrap; }
h4 { margin: 14px 0 4px; } .fu-answer { color: #333; margin-left: 1em; }"""


def note_guid(question_id: str, lang: str) -> str:
    """The note's stable GUID: the same question and language always give the same one."""
    import genanki

    return genanki.guid_for("mmprep-interview", question_id, lang)


def _text(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


def front_html(q: dict, lang: str) -> str:
    title = topic_titles()[q["topic"]][lang]
    parts = [f'<div class="meta">{_text(title)} · {q["difficulty"]} · {q["id"]}</div>', f"<p>{_text(q[lang]['question'])}</p>"]
    if q.get("code"):
        parts.append(f"<pre>{html.escape(q['code'].rstrip())}</pre>")
    return "".join(parts)


def back_html(q: dict, lang: str) -> str:
    part, label = q[lang], LABELS[lang]
    items = "".join(f"<li>{_text(p)}</li>" for p in part["key_points"])
    follow = []
    for f in part["follow_ups"]:
        entry = f"<li>{_text(follow_up_question(f))}"
        if isinstance(f, dict):
            points = "".join(f"<li>{_text(p)}</li>" for p in f["key_points"])
            entry += f'<div class="fu-answer">{_text(f["answer"])}<ul>{points}</ul></div>'
        follow.append(entry + "</li>")
    links = ", ".join(html.escape(link) for link in q["links"]["lessons"] + q["links"]["exercises"])
    return (f"<h4>{label['answer']}</h4><p>{_text(part['answer'])}</p>"
            f"<h4>{label['key_points']}</h4><ol>{items}</ol>"
            f"<h4>{label['follow_ups']}</h4><ul>{''.join(follow)}</ul>"
            f'<div class="meta">{label["study"]}: {links}</div>')


def tags(q: dict, lang: str) -> list[str]:
    out = ["mmprep", f"topic::{q['topic']}", f"difficulty::{q['difficulty']}", f"lang::{lang}"]
    return out + (["classic"] if q.get("classic") else [])


def build_package(questions: list[dict], langs: tuple[str, ...]):
    import genanki

    for lang in langs:
        if lang not in LANGUAGES:
            raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    model = genanki.Model(
        MODEL_ID, "Multimodal interview question",
        fields=[{"name": "Id"}, {"name": "Front"}, {"name": "Back"}],
        templates=[{"name": "Question", "qfmt": "{{Front}}", "afmt": '{{FrontSide}}<hr id="answer">{{Back}}'}],
        css=CSS, sort_field_index=0)
    decks = []
    for lang in langs:
        deck = genanki.Deck(DECK_IDS[lang], DECK_NAMES[lang])
        for q in questions:
            deck.add_note(genanki.Note(model=model, fields=[f"{q['id']} ({lang})", front_html(q, lang), back_html(q, lang)],
                                       tags=tags(q, lang), guid=note_guid(q["id"], lang)))
        decks.append(deck)
    return genanki.Package(decks)


def export_apkg(questions: list[dict], path: str | Path, langs: tuple[str, ...] = ("en",)) -> int:
    """Write `questions` in each of `langs` to the .apkg at `path`; returns the number of notes."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--apkg: {path} is a folder; give a file name such as {path / 'mmprep_interview.apkg'}")
    if path.suffix != ".apkg":
        raise ValueError(f"--apkg: {path} should end in .apkg")
    path.parent.mkdir(parents=True, exist_ok=True)
    build_package(questions, langs).write_to_file(str(path))
    return len(questions) * len(langs)
