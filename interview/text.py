"""Every interface string of the drill in English and Chinese, and wrapping by display width.

`say(lang, key, **params)` formats one string; `UsageError(key, **params)` is a user-facing error
whose message is rendered in the session's language. `wrap(text, indent)` fills paragraphs to the
terminal by display width (wcwidth: a Chinese character takes two columns), breaks Chinese between
characters but never before closing punctuation, and keeps the indent on every line.
"""

from __future__ import annotations

import re
import shutil

import wcwidth

UI: dict[str, dict[str, str]] = {
    "en": {
        # asking
        "question": "Question", "follow_up": "Follow-up", "code": "Code",
        "budget": "time budget {minutes:g} min (answer by {clock})",
        "your_answer": "Your answer: end with a line holding a single '.' (or Ctrl-D); ':e' opens $EDITOR, ':q' ends the drill.",
        "empty_answer": "The answer is empty: write something (even \"I don't know\"), or ':q' to end the drill.",
        "no_editor": "No $VISUAL or $EDITOR is set; keep typing here.",
        "editor_failed": "The editor did not run ({why}); keep typing here.",
        "editor_done": "(answer taken from the editor, {lines} line(s))",
        # the model answer and the rubric
        "model_answer": "Model answer", "key_points": "Key points a good answer hits", "your_answer_label": "Your answer",
        "follow_ups": "Likely follow-ups", "study": "Study",
        "rubric_intro": "Mark each key point against your answer: h hit, p partly, m missed (or all at once, e.g. 'hhpm'; ':q' ends the drill).",
        "rubric_prompt": "  key point {i}/{n} [h/p/m]: ",
        "bad_mark": "Please type h, p or m for this point, or {n} marks at once such as {example}.",
        "scored": "-> {hit} hit, {partly} partly, {missed} missed = {percent}%: {rating}; next review {due}",
        "scored_follow_up": "-> {hit} hit, {partly} partly, {missed} missed = {percent}% (follow-up)",
        "scored_plain": "-> score {score}/2: {rating}; next review {due}",
        "colon": ": ", "comma": ", ",
        "timing": "answered in {took}",
        "timing_budget": "answered in {took} of {budget}",
        "over_budget": "over the budget by {over}",
        "Again": "Again", "Hard": "Hard", "Good": "Good", "Easy": "Easy",
        # coding task
        "coding": "Coding task",
        "coding_intro": "Implement {task} in {path} (its docstring gives shapes and conventions). You have {minutes:g} minutes.",
        "coding_ready": "Press Enter when you want it graded (or type 'skip'): ",
        "grading": "Grading {task} with the autograder (only this topic, time limit {limit:g} s)...",
        "over_time": "over time: {minutes:.1f} min",
        "status_graded": "graded", "status_timeout": "grading timed out", "status_error": "grading failed", "status_skipped": "skipped",
        # endings and summaries
        "interrupted": "Interrupted: saved {n} scored answer(s) of this session to {path}.",
        "input_ended": "Input ended: saved {n} scored answer(s) of this session to {path}.",
        "stopped": "Stopped: saved {n} scored answer(s) of this session to {path}.",
        "kept_unscored": "The unfinished answer to {id} was kept too (unscored).",
        "summary": "Session summary", "answered": "{n} answered", "score_total": "{percent}% of the key points",
        "time_total": "time {took}", "over_budget_count": "{n} over the time budget",
        "again_soon": "again soon (Again/Hard)", "progress": "Progress over all sessions",
        "columns": "topic|answers|score|time|due|learned",
        "weakest": "weakest topics: {topics}",
        "weak_points": "Weakest key points (missed or partly hit most often):",
        "weak_point": "{id} #{k}: missed {missed}, partly {partly} of {n}: {text}",
        "coding_tasks": "coding tasks: {n}; last {task}: {score}",
        "stats_head": "{sessions} session(s), {answers} answer(s) in {path}",
        "stats_unscored": "{n} unfinished answer(s) kept unscored (interrupted sessions)",
        "stats_due": "due now: {due}; new (never answered): {new}; next review: {next}",
        "nothing": "nothing yet",
        # notes and history
        "count_capped": "note: only {n} question(s) match, so the session asks all of them (you asked for {count}).",
        "due_short": "note: {due} question(s) due and {new} new, so the session asks {n} (you asked for {count}).",
        "nothing_due": "Nothing is due and every matching question has been answered; the next review is {next}.",
        "new_history": "note: no drill history at {path} yet; starting a new one",
        "migrated": "note: upgraded the drill history {path} from schema {old} to {new}; {n} past answer(s) replayed into FSRS cards; the old file was copied to {backup}",
        "corrupt": "warning: the drill history {path} is damaged ({why}); moved it to {backup} and started a new one",
        "retention_set": "note: target retention is now {retention:g} (kept in the history)",
        "list_footer": "{n} question(s); * marks the six classic questions",
        "exported": "wrote {notes} note(s) ({langs}) to {path}; importing it again updates the same cards",
        "error": "error: {message}",
        "interrupted_plain": "Interrupted.",
        # errors (UsageError keys)
        "err_is_dir": "--history {path} is a folder; give a file inside it, e.g. {path}/interview_history.sqlite (nothing was changed)",
        "err_not_file": "--history {path} is not a regular file (nothing was changed)",
        "err_not_ours": "{path} is not a drill history ({why}); give another --history path (nothing was changed)",
        "err_busy": "the drill history {path} is locked by another process (waited {seconds:g} s); try again when it is done (nothing was changed)",
        "err_newer": "the drill history {path} was written by a newer version of the drill (schema {found}; this one reads up to {known}); update the course (nothing was changed)",
        "err_unreadable": "cannot open the drill history {path}: {why} (nothing was changed)",
        "err_count": "--count must be at least 1, got {count}",
        "err_no_match": "no question matches --topic/--difficulty",
        "err_topic": "unknown topic {topic!r}; topics are {topics}",
        "err_difficulty": "unknown difficulty {difficulty!r}; choose from easy, medium, hard",
        "err_ids": "--ids: unknown question id {id!r}",
        "err_no_id": "no question with id {id!r} (see `python -m interview list`)",
        "err_coding_form": "--coding: expected TOPIC.TASK such as metrics.roc_auc, got {spec!r}",
        "err_coding_task": "--coding: {topic!r} has no graded task {name!r} (tasks: {known})",
        "err_coding_file": "--coding: {path} does not exist; pick another --submission folder",
        "err_coding_none": "--coding: no drawn question links to a graded exercise task; name one, e.g. --coding metrics.roc_auc",
        "err_retention": "--retention must be between 0.7 and 0.99, got {value:g}",
        "err_timed": "--timed needs an interactive terminal or an answers file",
    },
    "zh": {
        "question": "问题", "follow_up": "追问", "code": "代码",
        "budget": "限时 {minutes:g} 分钟（请在 {clock} 前答完）",
        "your_answer": "你的回答：单独一行输入 '.'（或按 Ctrl-D）结束；':e' 用 $EDITOR 编辑，':q' 结束练习。",
        "empty_answer": "回答是空的：写点什么（哪怕是“不知道”），或输入 ':q' 结束练习。",
        "no_editor": "没有设置 $VISUAL 或 $EDITOR；请继续在这里输入。",
        "editor_failed": "编辑器没有运行成功（{why}）；请继续在这里输入。",
        "editor_done": "（回答取自编辑器，共 {lines} 行）",
        "model_answer": "参考答案", "key_points": "好答案应覆盖的要点", "your_answer_label": "你的回答",
        "follow_ups": "可能的追问", "study": "复习",
        "rubric_intro": "对照你的回答逐条标记要点：h 答到，p 部分答到，m 没答到（也可一次输入全部，如 'hhpm'；':q' 结束练习）。",
        "rubric_prompt": "  要点 {i}/{n} [h/p/m]：",
        "bad_mark": "请为这条要点输入 h、p 或 m，或一次输入 {n} 个标记，如 {example}。",
        "scored": "-> 答到 {hit}，部分 {partly}，没答到 {missed}，得分 {percent}%：{rating}；下次复习 {due}",
        "scored_follow_up": "-> 答到 {hit}，部分 {partly}，没答到 {missed}，得分 {percent}%（追问）",
        "scored_plain": "-> 自评 {score}/2：{rating}；下次复习 {due}",
        "colon": "：", "comma": "，",
        "timing": "用时 {took}",
        "timing_budget": "用时 {took}，限时 {budget}",
        "over_budget": "超时 {over}",
        "Again": "重来", "Hard": "困难", "Good": "良好", "Easy": "简单",
        "coding": "编程题",
        "coding_intro": "在 {path} 中实现 {task}（文档字符串写明了形状和约定）。限时 {minutes:g} 分钟。",
        "coding_ready": "完成后按回车评分（输入 'skip' 跳过）：",
        "grading": "正在用自动评分器评测 {task}（只评这一主题，时限 {limit:g} 秒）……",
        "over_time": "超时：{minutes:.1f} 分钟",
        "status_graded": "已评分", "status_timeout": "评分超时", "status_error": "评分失败", "status_skipped": "已跳过",
        "interrupted": "已中断：本次练习已评分的 {n} 个回答已保存到 {path}。",
        "input_ended": "输入结束：本次练习已评分的 {n} 个回答已保存到 {path}。",
        "stopped": "已结束：本次练习已评分的 {n} 个回答已保存到 {path}。",
        "kept_unscored": "{id} 未完成的回答也已保存（未评分）。",
        "summary": "本次练习小结", "answered": "已答 {n} 题", "score_total": "覆盖要点 {percent}%",
        "time_total": "用时 {took}", "over_budget_count": "{n} 题超时",
        "again_soon": "很快再练（重来/困难）", "progress": "历次练习的总体进度",
        "columns": "主题|回答数|得分|用时|到期|已学会",
        "weakest": "最薄弱的主题：{topics}",
        "weak_points": "最薄弱的要点（最常没答到或只答到一部分）：",
        "weak_point": "{id} 第 {k} 条：没答到 {missed} 次，部分 {partly} 次，共 {n} 次：{text}",
        "coding_tasks": "编程题：{n} 次；最近一次 {task}：{score}",
        "stats_head": "{sessions} 次练习，{answers} 个回答，保存在 {path}",
        "stats_unscored": "{n} 个未完成的回答已保存但未评分（中断的练习）",
        "stats_due": "现在到期：{due}；新题（从未答过）：{new}；下次复习：{next}",
        "nothing": "暂无",
        "count_capped": "提示：只有 {n} 道题符合条件，本次全部都问（你要的是 {count} 道）。",
        "due_short": "提示：到期 {due} 道、新题 {new} 道，本次问 {n} 道（你要的是 {count} 道）。",
        "nothing_due": "没有到期的题，符合条件的题也都答过了；下次复习在 {next}。",
        "new_history": "提示：{path} 还没有练习记录，新建一个",
        "migrated": "提示：练习记录 {path} 已从第 {old} 版升级到第 {new} 版；{n} 个历史回答已重放为 FSRS 卡片；旧文件已复制到 {backup}",
        "corrupt": "警告：练习记录 {path} 已损坏（{why}）；已移到 {backup}，并新建了一个",
        "retention_set": "提示：目标记忆保持率现在是 {retention:g}（保存在练习记录里）",
        "list_footer": "共 {n} 道题；* 标出六道经典题",
        "exported": "已把 {notes} 张笔记（{langs}）写入 {path}；再次导入会更新同一批卡片",
        "error": "错误：{message}",
        "interrupted_plain": "已中断。",
        "err_is_dir": "--history {path} 是一个文件夹；请给出其中的文件，例如 {path}/interview_history.sqlite（没有改动任何东西）",
        "err_not_file": "--history {path} 不是普通文件（没有改动任何东西）",
        "err_not_ours": "{path} 不是练习记录（{why}）；请换一个 --history 路径（没有改动任何东西）",
        "err_busy": "练习记录 {path} 被另一个进程锁住（已等待 {seconds:g} 秒）；请等它结束后再试（没有改动任何东西）",
        "err_newer": "练习记录 {path} 由更新版本的练习程序写入（第 {found} 版；本版本最多读第 {known} 版）；请更新课程（没有改动任何东西）",
        "err_unreadable": "无法打开练习记录 {path}：{why}（没有改动任何东西）",
        "err_count": "--count 至少为 1，收到的是 {count}",
        "err_no_match": "没有题目符合 --topic/--difficulty",
        "err_topic": "未知主题 {topic!r}；可选主题：{topics}",
        "err_difficulty": "未知难度 {difficulty!r}；可选 easy、medium、hard",
        "err_ids": "--ids：未知题号 {id!r}",
        "err_no_id": "没有题号为 {id!r} 的题（见 `python -m interview list`）",
        "err_coding_form": "--coding：应写成 主题.任务，例如 metrics.roc_auc，收到的是 {spec!r}",
        "err_coding_task": "--coding：{topic!r} 没有评分任务 {name!r}（可选任务：{known}）",
        "err_coding_file": "--coding：{path} 不存在；请换一个 --submission 文件夹",
        "err_coding_none": "--coding：抽到的题都没有链接到评分的编程任务；请指定一个，例如 --coding metrics.roc_auc",
        "err_retention": "--retention 应在 0.7 到 0.99 之间，收到的是 {value:g}",
        "err_timed": "--timed 需要交互式终端或答案文件",
    },
}

DIFFICULTY_LABELS = {"en": {"easy": "easy", "medium": "medium", "hard": "hard"},
                     "zh": {"easy": "简单", "medium": "中等", "hard": "困难"}}


def say(lang: str, key: str, **params) -> str:
    """One interface string in `lang`, formatted with `params`."""
    return UI[lang][key].format(**params)


class UsageError(ValueError):
    """A user-facing error (exit 2): `message(lang)` renders it in English or Chinese; str() is English."""

    def __init__(self, key: str, **params):
        self.key, self.params = key, params
        super().__init__(say("en", key, **params))

    def message(self, lang: str = "en") -> str:
        return say(lang, self.key, **self.params)


def clock(seconds: float) -> str:
    """1:05 for 65 s; 1:02:03 past an hour."""
    seconds = int(round(abs(seconds)))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# ---------------------------------------------------------------------------- display width and wrapping
NO_LINE_START = set("，。、；：？！）」』》〉】〕…,.;:?!)]}%’”")  # closing punctuation stays on its line
NO_LINE_END = set("（「『《〈【〔([{‘“")  # opening punctuation goes with what follows
HANGING = re.compile(r"^(\s*(?:[-*•]|\d{1,2}[.)、]|[（(]\d{1,2}[)）])\s+)")


def width_of(text: str) -> int:
    """Columns `text` takes in a terminal (wide characters count 2; control characters 0)."""
    total = wcwidth.wcswidth(text)
    return total if total >= 0 else sum(max(0, wcwidth.wcwidth(ch)) for ch in text)


def pad(text: str, width: int, left: bool = True) -> str:
    """Pad to a display width (for tables with Chinese headers)."""
    fill = " " * max(0, width - width_of(text))
    return text + fill if left else fill + text


def terminal_width(limit: int = 100) -> int:
    # one column short of the edge: a line that fills the last column makes some terminals wrap twice
    return max(40, min(limit, shutil.get_terminal_size((limit + 1, 24)).columns - 1))


def _tokens(paragraph: str) -> list[str]:
    """Whitespace runs, runs of narrow non-space characters (words), and single wide characters;
    closing punctuation is glued to what precedes it and opening punctuation to what follows."""
    raw: list[str] = []
    for ch in paragraph:
        wide = wcwidth.wcwidth(ch) == 2
        if ch.isspace():
            if raw and raw[-1].isspace():
                raw[-1] += ch
            else:
                raw.append(ch)
        elif wide or not raw or raw[-1].isspace() or wcwidth.wcwidth(raw[-1][-1]) == 2:
            raw.append(ch)
        else:
            raw[-1] += ch
    tokens: list[str] = []
    glue_next = False
    for tok in raw:
        if tokens and not tok.isspace() and (glue_next or (tok[0] in NO_LINE_START and not tokens[-1].isspace())):
            tokens[-1] += tok
        else:
            tokens.append(tok)
        glue_next = not tok.isspace() and tok[-1] in NO_LINE_END
    return tokens


def _fill(paragraph: str, width: int, first: str, rest: str) -> list[str]:
    lines: list[str] = []
    line, line_w, has_text, space = first, width_of(first), False, ""
    for tok in _tokens(paragraph):
        if tok.isspace():
            space = " " if has_text else ""
            continue
        tok_w = width_of(tok)
        if has_text and line_w + width_of(space) + tok_w > width:
            lines.append(line)
            line, line_w, has_text, space = rest, width_of(rest), False, ""
        while not has_text and line_w + tok_w > width and len(tok) > 1:  # a word longer than a line: cut it
            cut = 1
            while cut < len(tok) and line_w + width_of(tok[:cut + 1]) <= width:
                cut += 1
            lines.append(line + tok[:cut])
            tok, tok_w = tok[cut:], width_of(tok[cut:])
            line, line_w = rest, width_of(rest)
        line += space + tok
        line_w += width_of(space) + tok_w
        has_text, space = True, ""
    lines.append(line)
    return [ln.rstrip() for ln in lines]


def wrap(text: str, indent: str = "  ", width: int | None = None) -> str:
    """Fill each line of `text` to `width` display columns (default: the terminal, at most 100).

    Every output line starts with `indent`; a list item ("- ", "1. ", "（1）") hangs under its text;
    a line that starts with spaces (a formula, code) keeps them. Blank lines stay blank.
    """
    width = width or terminal_width()
    out: list[str] = []
    for raw_line in text.split("\n"):
        if not raw_line.strip():
            out.append(indent.rstrip())  # a quoted answer ("    | ") keeps its bar on blank lines
            continue
        marker = HANGING.match(raw_line)
        lead = marker.group(1) if marker else raw_line[: len(raw_line) - len(raw_line.lstrip())]
        first = indent + lead
        rest = indent + " " * width_of(lead)
        out.extend(_fill(raw_line[len(lead):], width, first, rest))
    return "\n".join(out)
