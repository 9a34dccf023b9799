"""The mock-interview part of the course: a bilingual question bank (JSON + JSON Schema) and a drill.

    python -m interview drill --topic fusion --difficulty medium --count 5 --lang zh
    python -m interview drill --due --timed
    python -m interview stats | list | show ID | check | export --apkg FILE

`load_bank()` returns every question as a dict (see schema.json); `History` is the SQLite drill
history; `scheduler` holds the rubric rule and the FSRS scheduling; `text` every interface string.
"""

from interview.bank import CLASSICS, LANGUAGES, TOPICS, BankError, all_questions, load_bank
from interview.history import History

__all__ = ["CLASSICS", "LANGUAGES", "TOPICS", "BankError", "History", "all_questions", "load_bank"]
