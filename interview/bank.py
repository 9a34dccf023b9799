"""The question bank: JSON files under interview/questions/, one per topic, validated by schema.json."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from interview.text import UsageError

PACKAGE_DIR = Path(__file__).resolve().parent
QUESTIONS_DIR = PACKAGE_DIR / "questions"
SCHEMA_PATH = PACKAGE_DIR / "schema.json"
PROJECT_ROOT = PACKAGE_DIR.parent

LANGUAGES = ("en", "zh")
DIFFICULTIES = ("easy", "medium", "hard")
TOPICS = ("concepts", "fusion", "alignment", "architectures", "contrastive", "training",
          "evaluation", "applications", "system_design", "code_reading", "multimodal_llms", "mllm_evaluation",
          "frontier")

# The six questions every "multimodal interview" article asks; each has one entry marked `classic`.
CLASSICS = {
    1: "what a multimodal model is and its types",
    2: "alignment in multimodal fusion",
    3: "applications combining vision and language",
    4: "choosing an architecture",
    5: "optimising performance",
    6: "evaluation metrics",
}

# What links may point to: the course's lessons and the public API of each exercise (COURSE_DESIGN.md).
LESSONS = (
    "00_what_is_a_multimodal_model", "01_evaluation_metrics", "02_fusion", "03_alignment",
    "04_multimodal_sentiment_transformer", "05_retrieval_system", "06_applications_and_architectures",
    "07_training_and_optimisation", "08_interview_guide", "09_multimodal_llms", "10_evaluating_and_adapting_mllms",
)
PUBLIC_API = {
    "metrics": ("accuracy", "confusion_matrix", "precision_recall_f1", "roc_curve", "roc_auc", "mae", "mse",
                "pearson_r", "sentiment_metrics", "recall_at_k", "mean_reciprocal_rank", "median_rank",
                "mean_average_precision"),
    "alignment": ("align_to_words", "dtw", "cross_attention", "info_nce", "sinkhorn"),
    "fusion": ("ConcatFusion", "LateFusion", "TensorFusion", "LowRankFusion", "GatedFusion", "ImageTextClassifier"),
    "sentiment": ("PositionalEncoding", "CrossModalBlock", "MultimodalSentimentTransformer"),
    "retrieval": ("clip_loss", "ImageEncoder", "TextEncoder", "DualEncoder", "EmbeddingIndex", "RetrievalSystem"),
    "optimization": ("distillation_loss", "accumulate_gradients", "modality_dropout", "EarlyStopping"),
    "mllm": ("PatchEmbedding", "MLPProjector", "QFormerResampler", "pixel_shuffle_merge", "splice_image_tokens",
             "causal_lm_loss", "TinyCausalLM", "greedy_generate", "TinyVLM", "freeze_for_stage", "dynamic_tiles",
             "num_visual_tokens", "train_tiny_vlm", "answer_questions"),
    "generation_metrics": ("corpus_bleu", "cider_d", "vqa_accuracy", "clip_score", "chair", "pope_questions", "pope_metrics"),
    "adaptation": ("LoRALinear", "apply_lora", "quantize_absmax_blockwise", "dequantize_absmax_blockwise", "siglip_loss",
                   "sequence_logprob", "dpo_loss"),
}


class BankError(ValueError):
    """The question bank is malformed; the message names the file and entry."""


@dataclass(frozen=True)
class ExerciseLink:
    """`exercises/fusion.py::TensorFusion` -> topic "fusion", name "TensorFusion"."""

    topic: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ExerciseLink:
        path, sep, name = text.partition("::")
        if not sep or not path.startswith("exercises/") or not path.endswith(".py") or not name:
            raise BankError(f"exercise link {text!r} is not of the form exercises/<topic>.py::<name>")
        return cls(path.removeprefix("exercises/").removesuffix(".py"), name)

    def __str__(self) -> str:
        return f"exercises/{self.topic}.py::{self.name}"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def _validate_file(path: Path, data: dict) -> None:
    import jsonschema  # imported here: it takes seconds to import, and the drill does not need it

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(top level)"
        raise BankError(f"{path.name}: {where}: {first.message}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))


REQUIRED_KEYS = ("id", "topic", "difficulty", "en", "zh", "links")


def _quick_check(path: Path, data) -> None:
    """The structure the drill relies on, without the (slow to import) JSON Schema validator."""
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list) or "topic" not in data:
        raise BankError(f"{path.name}: expected {{'topic': ..., 'questions': [...]}}; run `python -m interview check`")
    for i, q in enumerate(data["questions"]):
        missing = [k for k in REQUIRED_KEYS if not isinstance(q, dict) or k not in q]
        if missing:
            raise BankError(f"{path.name}: questions/{i} lacks {', '.join(missing)}; run `python -m interview check`")


def load_file(path: Path, validate: bool = True) -> list[dict]:
    """The questions of one bank file; each question's topic must be the file's.

    validate=True checks the file against schema.json (jsonschema); False only checks the keys the
    drill uses, which is much faster to start.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BankError(f"{Path(path).name}: not valid JSON: {exc}") from exc
    if validate:
        _validate_file(Path(path), data)
    else:
        _quick_check(Path(path), data)
    for q in data["questions"]:
        if q["topic"] != data["topic"]:
            raise BankError(f"{Path(path).name}: {q['id']} has topic {q['topic']!r} in the {data['topic']!r} file")
    return data["questions"]


def load_bank(directory: Path = QUESTIONS_DIR, validate: bool = True) -> list[dict]:
    """Every question of the bank, in file then listing order; BankError on schema errors or duplicate ids."""
    questions: list[dict] = []
    seen: dict[str, str] = {}
    files = sorted(Path(directory).glob("*.json"))
    if not files:
        raise BankError(f"no question files in {directory}")
    for path in files:
        for q in load_file(path, validate):
            if q["id"] in seen:
                raise BankError(f"duplicate id {q['id']!r} in {path.name} (first in {seen[q['id']]})")
            seen[q["id"]] = path.name
            questions.append(q)
    return questions


@lru_cache(maxsize=1)
def _cached_bank() -> tuple[dict, ...]:
    return tuple(load_bank(validate=False))


def all_questions() -> list[dict]:
    """The installed bank (loaded once per process)."""
    return list(_cached_bank())


@lru_cache(maxsize=1)
def topic_titles() -> dict[str, dict[str, str]]:
    """topic -> {"en": title, "zh": title} from the bank files' "title" (the topic id where a file has none)."""
    titles = {t: {"en": t, "zh": t} for t in TOPICS}
    for path in sorted(QUESTIONS_DIR.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and isinstance(data.get("title"), dict) and data.get("topic") in titles:
            titles[data["topic"]].update({k: v for k, v in data["title"].items() if k in LANGUAGES and isinstance(v, str)})
    return titles


# ---------------------------------------------------------------------------- follow-ups
def follow_up_question(item) -> str:
    """A follow-up is a plain question (a string) or {"question", "answer", "key_points"}."""
    return item if isinstance(item, str) else item["question"]


def follow_up_answered(question: dict, index: int) -> bool:
    """Whether follow-up `index` (0-based) has a model answer and key points in every language."""
    return all(isinstance(question[lang]["follow_ups"][index], dict) for lang in LANGUAGES)


def answered_follow_ups(question: dict) -> list[int]:
    """0-based indexes of the follow-ups answered in both languages."""
    n = min(len(question[lang]["follow_ups"]) for lang in LANGUAGES)
    return [i for i in range(n) if follow_up_answered(question, i)]


def follow_up_counts(questions: list[dict]) -> tuple[int, int]:
    """(follow-ups in the bank, follow-ups still without a model answer in both languages)."""
    total = sum(len(q["en"]["follow_ups"]) for q in questions)
    return total, total - sum(len(answered_follow_ups(q)) for q in questions)


def follow_up_problems(question: dict) -> list[str]:
    """en and zh must list the same number of follow-ups, each answered in both languages or in neither."""
    en, zh = question["en"]["follow_ups"], question["zh"]["follow_ups"]
    if len(en) != len(zh):
        return [f"{question['id']}: {len(en)} English but {len(zh)} Chinese follow-ups"]
    problems = []
    for i, (a, b) in enumerate(zip(en, zh, strict=True), 1):
        if isinstance(a, dict) != isinstance(b, dict):
            problems.append(f"{question['id']}: follow-up {i} is answered in one language only")
        elif isinstance(a, dict) and len(a["key_points"]) != len(b["key_points"]):
            problems.append(f"{question['id']}: follow-up {i} has {len(a['key_points'])} English but "
                            f"{len(b['key_points'])} Chinese key points")
    return problems


def by_id(questions: list[dict]) -> dict[str, dict]:
    return {q["id"]: q for q in questions}


def exercise_links(question: dict) -> list[ExerciseLink]:
    return [ExerciseLink.parse(text) for text in question["links"]["exercises"]]


def link_problems(question: dict, root: Path | None = None) -> list[str]:
    """What is wrong with a question's links (empty when fine).

    Without `root`: each link names a course lesson and a public-API name (COURSE_DESIGN.md).
    With `root`: each lesson file exists under root and each exercise name is defined at the top
    level of root/solutions/<topic>.py (read with ast, never imported).
    """
    problems = []
    for lesson in question["links"]["lessons"]:
        stem = lesson.removeprefix("lessons/").removesuffix(".ipynb")
        if root is None and stem not in LESSONS:
            problems.append(f"{question['id']}: unknown lesson {lesson}")
        elif root is not None and not (root / lesson).is_file():
            problems.append(f"{question['id']}: lesson {lesson} does not exist")
    for text in question["links"]["exercises"]:
        try:
            link = ExerciseLink.parse(text)
        except BankError as exc:
            problems.append(f"{question['id']}: {exc}")
            continue
        if root is None:
            if link.name not in PUBLIC_API.get(link.topic, ()):
                problems.append(f"{question['id']}: {text} is not in the public API of {link.topic!r}")
        elif link.name not in top_level_names(root / "solutions" / f"{link.topic}.py"):
            problems.append(f"{question['id']}: {text}: solutions/{link.topic}.py defines no {link.name}")
    return problems


def top_level_names(path: Path) -> set[str]:
    """Functions, classes and assigned names at the top level of a Python file (empty if it is missing)."""
    if not path.is_file():
        return set()
    return set(_top_level_names(str(path), path.stat().st_mtime_ns))


@lru_cache(maxsize=64)
def _top_level_names(path: str, mtime_ns: int) -> frozenset[str]:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return frozenset(names)


def select(questions: list[dict], topics: list[str] | None = None, difficulties: list[str] | None = None) -> list[dict]:
    """The questions of the given topics and difficulties (None: all)."""
    for t in topics or ():
        if t not in TOPICS:
            raise UsageError("err_topic", topic=t, topics=", ".join(TOPICS))
    for d in difficulties or ():
        if d not in DIFFICULTIES:
            raise UsageError("err_difficulty", difficulty=d)
    return [q for q in questions
            if (not topics or q["topic"] in topics) and (not difficulties or q["difficulty"] in difficulties)]
