"""Data: the real sources by HF id or local path, and the synthetic judge world of the CPU miniature.

Real sources (paper recipe; loading code written against the dataset cards, tested on files the tests write):

* ``BAAI/JudgeLM-100K`` (seed prompts, fields ``question_body``, ``answer1_body``, ``answer2_body``, ``score``);
* ``MMInstruction/VL-RewardBench`` (``query``, ``response`` [2], ``image``, ``human_ranking``, ``query_source``);
* ``MJ-Bench/MJ-Bench`` (``caption``, ``image0``, ``image1``, ``label``; gated, changed after May 2025);
* ``TIGER-Lab/GenAI-Bench`` (configs ``image_generation`` / ``image_edition`` / ``video_generation``, split
  ``test_v1``, field ``vote_type``);
* MLLM-as-a-Judge (a local folder of JSON/JSONL files, one per subset; not on the hub), audio MOS / VoxSim item
  lists (local JSONL: ``audio`` path, ``mos`` or ``score``, optional ``system``), JudgeLM val / PandaLM test.

Every loader returns plain records in one normalized schema per format (see each docstring).

Synthetic judge world (mini / smoke / dry runs; spec §6): ``mlrepro.tasks`` arithmetic problems, candidate
answers in four categories with reference ("GPT-4") scores, JudgeLM-shaped records, a rule-based JudgeLRM
stand-in teacher (run through ``mlrepro.sampling``'s scripted backend, with seeded noise and verbosity), held-out
text items (pair, score, batch) and image items whose pictures are drawn in code.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .prompts import pair_prompt, render_chatml

__all__ = [
    "CATEGORIES", "REF_SCORES", "make_answer", "judgelm_world", "eval_world", "teacher_reply", "make_teacher",
    "generate_seed_traces", "draw_scene", "trace_diagnostics", "load_records_any", "load_judgelm", "load_vlrb", "load_mjbench",
    "load_genai", "load_mllm_judge", "load_audio_items", "VLRB_CATEGORIES", "vlrb_category", "world_problems",
    "solve_question",
]

# ---------------------------------------------------------------------------------------------------------------
# synthetic judge world

CATEGORIES = ("good", "bare_right", "slip", "bare_wrong")
# reference scores on 1..10 (the stand-in for JudgeLM's GPT-4 labels): correct beats wrong; showing the work
# beats a bare number
REF_SCORES = {"good": 9, "bare_right": 7, "slip": 3, "bare_wrong": 2}


def world_problems(n: int, seed: int, max_value: int = 15, max_operand: int = 3, difficulty: int = 1,
                   kinds: Sequence[str] = ("add", "sub"), exclude: set[str] | None = None):
    """``n`` distinct problems (by question text) from ``mlrepro.tasks`` in the small learnable world."""
    from mlrepro.tasks import make_problem

    rng = random.Random(seed)
    seen = set(exclude or ())
    out = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct problems from this world (got {len(out)})")
        p = make_problem(rng, difficulty, max_value=max_value, max_operand=max_operand, kinds=tuple(kinds))
        q = p.question()
        if q in seen:
            continue
        seen.add(q)
        out.append(p)
    return out


def _wrong_values(p, rng: random.Random) -> list[int]:
    """Values of a solution with one arithmetic slip (in a random step, propagated), final value != answer."""
    v = p.values()
    while True:
        k = rng.randrange(len(p.ops))
        vals = list(v[: k + 1])
        delta = rng.choice([-2, -1, 1, 2])
        x = p.ops[k].apply(vals[k]) + delta
        if x < 0:
            continue
        vals.append(x)
        for op in p.ops[k + 1:]:
            vals.append(op.apply(vals[-1]))
        if vals[-1] != p.answer and vals[-1] >= 0:
            return vals


def make_answer(p, category: str, rng: random.Random) -> str:
    """A candidate answer of ``category``: ``good`` (right steps and answer), ``bare_right`` (right number only),
    ``slip`` (steps with one arithmetic slip, wrong answer), ``bare_wrong`` (wrong number only)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")
    if category in ("good", "slip"):
        vals = p.values() if category == "good" else _wrong_values(p, rng)
        steps = [f"{vals[i]} {op.symbol} {op.operand} = {vals[i + 1]}" for i, op in enumerate(p.ops)]
        return ", ".join(steps) + f". The answer is {vals[-1]}."
    if category == "bare_right":
        return f"The answer is {p.answer}."
    w = p.answer + rng.choice([-3, -2, -1, 1, 2, 3])
    if w < 0:
        w = p.answer + rng.choice([1, 2, 3])
    return f"The answer is {w}."


def _record(p, cats: Sequence[str], rng: random.Random, rid: str) -> dict:
    answers = [make_answer(p, c, rng) for c in cats]
    return {"id": rid, "question": p.question(), "answers": answers, "categories": list(cats),
            "ref": [REF_SCORES[c] for c in cats], "gold_answer": p.answer, "start": p.start}


def judgelm_world(n: int, seed: int, **world) -> list[dict]:
    """JudgeLM-shaped pair records ``{"id", "question", "answer1", "answer2", "ref": [s1, s2], ...}`` over fresh
    problems, the two categories drawn independently (so about a quarter are ties)."""
    rng = random.Random(seed + 7919)
    out = []
    for i, p in enumerate(world_problems(n, seed, **world)):
        cats = [rng.choice(CATEGORIES), rng.choice(CATEGORIES)]
        r = _record(p, cats, rng, f"judgelm-{seed}-{i}")
        r["answer1"], r["answer2"] = r["answers"]
        out.append(r)
    return out


def eval_world(n_pair: int, n_score: int, n_batch: int, n_image: int, seed: int, exclude: set[str] | None = None,
               **world) -> dict[str, list[dict]]:
    """Held-out evaluation items (problems disjoint from ``exclude``):

    * ``text_pair``: two answers, gold verdict A/B/C from the reference scores;
    * ``text_score``: one answer, gold = reference score moved to 1-5 (``ceil(s / 2)``);
    * ``text_batch``: three answers of distinct categories, gold ranking string (e.g. ``"CAB"``);
    * ``image_pair`` / ``image_score``: the same formats with a picture of the starting count (drawn by
      :func:`draw_scene`); the question text still states every number, so the picture is not needed to judge.
    """
    from .curate import rescale_score
    from .method import batch_letters, pair_from_scores

    total = n_pair + n_score + n_batch + 2 * n_image
    probs = world_problems(total, seed, exclude=exclude, **world)
    rng = random.Random(seed + 104729)
    out: dict[str, list[dict]] = {"text_pair": [], "text_score": [], "text_batch": [], "image_pair": [],
                                  "image_score": []}
    k = 0
    for name, n in (("text_pair", n_pair), ("text_score", n_score), ("text_batch", n_batch), ("image_pair", n_image),
                    ("image_score", n_image)):
        for i in range(n):
            p = probs[k]
            k += 1
            if name.endswith("pair"):
                cats = [rng.choice(CATEGORIES), rng.choice(CATEGORIES)]
            elif name.endswith("score"):
                cats = [rng.choice(CATEGORIES)]
            else:
                cats = rng.sample(list(CATEGORIES), 3)
            r = _record(p, cats, rng, f"{name}-{seed}-{i}")
            if name.endswith("pair"):
                r["gold"] = pair_from_scores(*r["ref"])
            elif name.endswith("score"):
                r["gold"] = rescale_score(r["ref"][0])
            else:
                r["gold"] = batch_letters(r["ref"])
            if name.startswith("image"):
                r["image_seed"] = seed * 1000 + i
            out[name].append(r)
    return out


def draw_scene(count: int, size: int = 56, seed: int = 0):
    """A PIL picture of ``count`` coloured dots on a light background (the items' starting count), drawn in code."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("RGB", (size, size), (245, 245, 235))
    d = ImageDraw.Draw(img)
    r = max(2, size // 16)
    for _ in range(max(0, int(count))):
        x, y = rng.randint(r, size - r - 1), rng.randint(r, size - r - 1)
        color = rng.choice([(200, 40, 40), (40, 120, 200), (40, 160, 60)])
        d.ellipse((x - r, y - r, x + r, y + r), fill=color)
    return img


# ---------------------------------------------------------------------------------------------------------------
# the rule-based teacher (JudgeLRM-7B stand-in)

_Q_START = re.compile(r"has (\d+) ")
_Q_OPS = re.compile(r"gets (\d+) more|gives away (\d+)")
_BLOCK = re.compile(r"\[(Question|Assistant 1's Answer|Assistant 2's Answer|Assistant's Answer)\]\n(.*?)(?=\n\n\[|$)",
                    re.S)


def solve_question(question: str) -> list[tuple[int, str, int, int]] | None:
    """Steps ``(a, op, b, c)`` of a world question (start "has N", then "gets K more" / "gives away K")."""
    m = _Q_START.search(question)
    if not m:
        return None
    x = int(m.group(1))
    steps = []
    for add, sub in _Q_OPS.findall(question):
        if add:
            steps.append((x, "+", int(add), x + int(add)))
            x += int(add)
        else:
            steps.append((x, "-", int(sub), x - int(sub)))
            x -= int(sub)
    return steps or None


def _answer_facts(answer: str) -> tuple[int | None, bool]:
    m = re.search(r"answer is (-?\d+)", answer)
    return (int(m.group(1)) if m else None), bool(re.search(r"\d+ [-+*] \d+ = \d+", answer))


def _describe(who: str, answer: str, truth: int) -> tuple[str, int]:
    value, shows = _answer_facts(answer)
    right = value == truth
    cat = ("good" if right else "slip") if shows else ("bare_right" if right else "bare_wrong")
    how = "with steps" if shows else "no steps"
    verdict = "correct" if right else "wrong"
    diff = f"{value} - {truth} = {value - truth}" if value is not None else "no answer"
    return f"{who} says {value}. {diff}, so it is {verdict}, {how}.", REF_SCORES[cat]


def teacher_reply(prompt: str, seed: int, noise: float = 0.2, malformed: float = 0.05) -> str:
    """A JudgeLRM-style continuation (after ``<think>\\n``) for a pairwise prompt, rule-based.

    The teacher solves the question, checks each answer and scores it like the reference labels. Per
    ``(seed, prompt)`` it picks a verbosity (so repeated runs differ in length and dedup has a choice), errs with
    probability ``noise`` (miscounts a step, so its scores can disagree with the reference and the exact-match
    filter drops the trace) and, with probability ``malformed``, forgets the second answer tag."""
    h = hashlib.sha256(f"{seed}|{prompt}".encode()).digest()
    rng = random.Random(int.from_bytes(h[:8], "little"))
    blocks = dict(_BLOCK.findall(prompt.split("<|im_start|>user\n", 1)[-1].split("<|im_end|>")[0]))
    q = blocks.get("Question", "")
    steps = solve_question(q)
    if steps is None:
        return "I cannot read the question.\n</think>\n<answer>5</answer><answer>5</answer>"
    if rng.random() < noise:  # a miscount in one step, propagated
        k = rng.randrange(len(steps))
        x = steps[k][3] + rng.choice([-1, 1])
        fixed = steps[:k] + [(steps[k][0], steps[k][1], steps[k][2], x)]
        for _a, op, b, _ in steps[k + 1:]:
            y = x + b if op == "+" else x - b
            fixed.append((x, op, b, y))
            x = y
        steps = fixed
    truth = steps[-1][3]
    verbose = rng.random() < 0.5
    work = ", ".join(f"{a} {op} {b} = {c}" for a, op, b, c in steps)
    lines = [f"Solve: {work}. The answer is {truth}."]
    if verbose:
        lines.append("Check each answer.")
    scores = []
    for who, key in (("Assistant 1", "Assistant 1's Answer"), ("Assistant 2", "Assistant 2's Answer")):
        line, s = _describe(who, blocks.get(key, ""), truth)
        lines.append(line)
        scores.append(s)
    tags = f"<answer>{scores[0]}</answer>" + ("" if rng.random() < malformed else f"<answer>{scores[1]}</answer>")
    return "\n".join(lines) + "\n</think>\n" + tags


_TRACE_SOLVE = re.compile(r"The answer is (-?\d+)\.")
_TRACE_CHECK = re.compile(r"says (-?\d+)\. (-?\d+) - (-?\d+) = (-?\d+), so it is (correct|wrong)")


def trace_diagnostics(text: str, item: dict) -> dict[str, list[bool]]:
    """Step-level check of a judge trace in the teacher's format against a world item: ``solve`` (the final value
    of the "Solve:" line is the true answer), ``copy`` (each "says X" is that assistant's number), ``diff`` (each
    difference is computed right) and ``verdict`` (correct/wrong agrees with the written difference)."""
    out: dict[str, list[bool]] = {"solve": [], "copy": [], "diff": [], "verdict": []}
    m = _TRACE_SOLVE.search(text or "")
    out["solve"].append(bool(m) and int(m.group(1)) == int(item["gold_answer"]))
    vals = [_answer_facts(a)[0] for a in item["answers"]]
    for k, (said, a, b, d, verdict) in enumerate(_TRACE_CHECK.findall(text or "")):
        if k < len(vals):
            out["copy"].append(int(said) == vals[k])
        out["diff"].append(int(a) - int(b) == int(d))
        out["verdict"].append((int(d) == 0) == (verdict == "correct"))
    return out


def make_teacher(noise: float = 0.2, malformed: float = 0.05):
    """A ``mlrepro.sampling`` scripted sampler wrapping :func:`teacher_reply` (its seed = ``params.seed``)."""
    from mlrepro.sampling import get_sampler

    def fn(prompt, params, i):
        text = prompt if isinstance(prompt, str) else "\n".join(m["content"] for m in prompt)
        return teacher_reply(text, (params.seed or 0) * 1000 + i, noise=noise, malformed=malformed)

    return get_sampler("scripted", fn=fn)


def seed_prompt(rec: dict, style: str = "paper") -> str:
    """The seed-generation prompt: JudgeLRM's pairwise system + user turn, chat-templated, then ``<think>\\n``."""
    jp = pair_prompt(rec["question"], rec["answer1"], rec["answer2"], scale=10, style=style)
    return render_chatml(jp.system, jp.user, assistant_prefix="<think>\n")


def generate_seed_traces(records: Sequence[dict], sampler, params_list: Sequence, style: str = "paper",
                         count_tokens=None, progress: bool = False) -> list[dict]:
    """Step 1 of the curation: one generation run per ``SamplingParams`` (the paper's seeds 13 and 79) over the
    JudgeLM records through any ``mlrepro.sampling`` sampler. Rows:
    ``{"id", "prompt", "text", "n_tokens", "ref", "question", "answer1", "answer2", "seed"}``."""
    prompts = [seed_prompt(r, style) for r in records]
    rows = []
    for params in params_list:
        outs = sampler.generate(prompts, params)
        it = zip(records, prompts, outs)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, total=len(records), desc=f"seed traces (seed {params.seed})")
        for r, p, comps in it:
            c = comps[0]
            text = c.text.strip()
            n = count_tokens(text) if count_tokens is not None else c.num_tokens
            rows.append({"id": r["id"], "prompt": p, "text": text, "n_tokens": int(n), "ref": list(r["ref"]),
                         "question": r["question"], "answer1": r["answer1"], "answer2": r["answer2"],
                         "seed": params.seed})
    return rows


# ---------------------------------------------------------------------------------------------------------------
# real sources


def load_records_any(path_or_id: str, split: str = "train", name: str | None = None,
                     data_files: Any = None, limit: int | None = None) -> list[dict]:
    """Records from a local JSON/JSONL/parquet file or folder, or a hub dataset id (``datasets.load_dataset``)."""
    p = Path(path_or_id)
    if p.exists():
        if p.is_file() and p.suffix in (".jsonl", ".json"):
            text = p.read_text()
            if p.suffix == ".jsonl":
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                obj = json.loads(text)
                rows = obj if isinstance(obj, list) else obj.get(split, obj.get("data", []))
            return rows[:limit] if limit else rows
        from datasets import load_dataset

        fmt = {".parquet": "parquet", ".csv": "csv"}.get(p.suffix, "json")
        ds = load_dataset(fmt, data_files=str(p) if p.is_file() else data_files, data_dir=None if p.is_file()
                          else str(p), split="train")
    else:
        from datasets import load_dataset

        ds = load_dataset(path_or_id, name, split=split, data_files=data_files)
    if limit:
        ds = ds.select(range(min(limit, len(ds))))
    return [dict(r) for r in ds]


def load_judgelm(path_or_id: str = "BAAI/JudgeLM-100K", split: str = "train", limit: int | None = None) -> list[dict]:
    """JudgeLM-100K -> ``{"id", "question", "answer1", "answer2", "ref": score}``. The hub repo stores JSONL files;
    ``split="train"`` reads ``judgelm_train_100k.jsonl``, ``"val"`` the GPT-4 judged ``judgelm_val_5k_gpt4.jsonl``."""
    files = {"train": "judgelm_train_100k.jsonl", "val": "judgelm_val_5k_gpt4.jsonl"}
    if Path(path_or_id).exists():
        rows = load_records_any(path_or_id, limit=limit)
    else:
        rows = load_records_any(path_or_id, split="train", data_files={"train": files.get(split, split)}, limit=limit)
    out = []
    for i, r in enumerate(rows):
        score = r.get("score")
        if isinstance(score, str):
            score = json.loads(score)
        out.append({"id": str(r.get("question_id", r.get("review_id", i))), "question": r["question_body"],
                    "answer1": r["answer1_body"], "answer2": r["answer2_body"],
                    "ref": [int(round(float(s))) for s in score][:2] if score is not None else None})
    return out


VLRB_CATEGORIES = {"general": ("wildvision", "vlfeedback"), "hallucination": ("povid", "rlaif-v", "rlhf-v"),
                   "reasoning": ("mmmu-pro", "mathverse")}


def vlrb_category(query_source: str) -> str:
    """[INFERRED] VL-RewardBench category from ``query_source``: General = WildVision + VLFeedback,
    Hallucination = POVID + RLAIF-V + RLHF-V, Reasoning = MMMU-Pro + MathVerse."""
    s = (query_source or "").lower().replace("_", "-")
    for cat, keys in VLRB_CATEGORIES.items():
        if any(k in s for k in keys):
            return cat
    return "general"


def load_vlrb(path_or_id: str = "MMInstruction/VL-RewardBench", split: str = "test", limit: int | None = None) -> list[dict]:
    """VL-RewardBench -> ``{"id", "question", "responses": [r0, r1], "image", "human_ranking", "category"}``."""
    rows = load_records_any(path_or_id, split=split, limit=limit)
    return [{"id": str(r.get("id", i)), "question": r["query"], "responses": list(r["response"]),
             "image": r.get("image"), "human_ranking": list(r["human_ranking"]),
             "category": vlrb_category(r.get("query_source", ""))} for i, r in enumerate(rows)]


def load_mjbench(path_or_id: str = "MJ-Bench/MJ-Bench", split: str = "alignment", limit: int | None = None) -> list[dict]:
    """MJ-Bench -> ``{"id", "caption", "image0", "image1", "label"}`` (label 0: image0 preferred)."""
    rows = load_records_any(path_or_id, split=split, limit=limit)
    return [{"id": str(r.get("id", i)), "caption": r["caption"], "image0": r["image0"], "image1": r["image1"],
             "label": int(r.get("label", 0)), "split": split} for i, r in enumerate(rows)]


def load_genai(path_or_id: str = "TIGER-Lab/GenAI-Bench", task: str = "image_generation", split: str = "test_v1",
               limit: int | None = None, video_folder: str | None = None) -> list[dict]:
    """GenAI-Bench -> ``{"id", "task", "prompt", "a", "b", "vote_type"[, "source_prompt", "target_prompt",
    "source_image"]}``; video items are paths joined to ``video_folder`` (the official script's hard-coded folder)."""
    if Path(path_or_id).exists():
        rows = load_records_any(path_or_id, limit=limit)
    else:
        rows = load_records_any(path_or_id, split=split, name=task, limit=limit)
    out = []
    for i, r in enumerate(rows):
        rec = {"id": str(r.get("id", i)), "task": task, "vote_type": r["vote_type"]}
        if task == "image_edition":
            rec.update(prompt=r["instruct_prompt"], a=r["left_output_image"], b=r["right_output_image"],
                       source_prompt=r["source_prompt"], target_prompt=r["target_prompt"],
                       source_image=r["source_image"])
        elif task == "video_generation":
            join = (lambda v: str(Path(video_folder) / v)) if video_folder else (lambda v: v)
            rec.update(prompt=r["prompt"], a=join(r["left_video"]), b=join(r["right_video"]))
        else:
            rec.update(prompt=r["prompt"], a=r["left_image"], b=r["right_image"])
        out.append(rec)
    return out


MLLM_JUDGE_FIELDS = {"image": "image_path", "question": "instruction", "answer": "answer", "answers": "answers",
                     "human": "human", "subset": "dataset"}


def load_mllm_judge(folder: str, setting: str, fields: dict[str, str] | None = None,
                    limit: int | None = None) -> list[dict]:
    """MLLM-as-a-Judge (github Dongping-Chen/MLLM-Judge ``Dataset/``; not on the hub): every ``*.json``/``*.jsonl``
    under ``folder/<setting>`` (``score``, ``pair`` or ``batch``), normalized to ``{"id", "subset", "image",
    "question", "answers", "human"}``. [INFERRED] field names are configurable (``fields``; defaults in
    ``MLLM_JUDGE_FIELDS``); ``image`` paths are resolved relative to ``folder``."""
    f = {**MLLM_JUDGE_FIELDS, **(fields or {})}
    root = Path(folder)
    base = root / setting if (root / setting).is_dir() else root
    files = sorted([*base.rglob("*.json"), *base.rglob("*.jsonl")])
    if not files:
        raise FileNotFoundError(f"no MLLM-as-a-Judge {setting} files under {base}")
    out = []
    for fp in files:
        for i, r in enumerate(load_records_any(str(fp))):
            answers = r.get(f["answers"])
            if answers is None:
                answers = [r[f["answer"]]] if f["answer"] in r else [r[k] for k in sorted(r) if k.startswith("answer")]
            img = r.get(f["image"])
            if isinstance(img, str) and not Path(img).is_absolute():
                img = str(root / img)
            out.append({"id": f"{fp.stem}-{i}", "subset": str(r.get(f["subset"], fp.stem)), "image": img,
                        "question": r[f["question"]], "answers": list(answers), "human": r[f["human"]]})
            if limit and len(out) >= limit:
                return out
    return out


def load_audio_items(path: str, limit: int | None = None) -> list[dict]:
    """Audio MOS / VoxSim item list (JSONL made by following the SALMONN quality_assessment instructions):
    ``{"audio": path or [path1, path2], "score": mos, "system": id (optional)}``."""
    rows = load_records_any(path, limit=limit)
    out = []
    for i, r in enumerate(rows):
        out.append({"id": str(r.get("id", i)), "audio": r["audio"], "score": float(r.get("score", r.get("mos"))),
                    "system": r.get("system")})
    return out
