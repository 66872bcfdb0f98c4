"""A readable transcript report per run: every selected session's dialogue with its outcome and scores.

Markdown (``transcripts.md``) or a static HTML page (``transcripts.html``, no scripts, no external assets). Both
are built from the session dicts and records the run wrote (``sessions.jsonl`` / stage outputs).
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from mlrepro.runs import atomic_write_text

from .scenarios import MARKETS, fmt_price, make_scenario


def select_sessions(pairs: list[tuple[dict, dict]], max_sessions: int) -> list[tuple[dict, dict]]:
    """Round-robin over (market, method) so that a capped report still shows every market and method."""
    buckets: dict[tuple, list] = defaultdict(list)
    for rec, ses in pairs:
        buckets[(rec["market"], rec.get("method", ""))].append((rec, ses))
    out, i = [], 0
    order = {m: i for i, m in enumerate(MARKETS)}
    keys = sorted(buckets, key=lambda k: (order.get(k[0], 99), k[1]))
    while len(out) < max_sessions and any(i < len(buckets[k]) for k in keys):
        for k in keys:
            if i < len(buckets[k]) and len(out) < max_sessions:
                out.append(buckets[k][i])
        i += 1
    return out


def _score_line(rec: dict) -> str:
    if rec["deal"]:
        item = f" for {rec['item']}" if rec.get("item") else ""
        months = f" over {rec['months']} months" if rec.get("months") else ""
        return (f"deal at {fmt_price(rec['price'])}{months}{item}: CS {rec['cs']:.3f}, NP {rec['np']:.3f}, "
                f"AR {rec['ar']:.3f}, score {rec['score']:.4f} of 3")
    return f"{rec['status'].replace('_', ' ')}: score 0"


def _facts(rec: dict) -> str:
    sc = make_scenario(rec["market"], rec["product"])
    if sc.multi:
        return (f"budget {fmt_price(sc.budget)}; wants {sc.desired_item} (list {fmt_price(sc.list_price)}, "
                f"cost {fmt_price(sc.cost)})")
    return f"budget {fmt_price(sc.budget)}, list {fmt_price(sc.list_price)}, cost {fmt_price(sc.cost)}"


def _title(rec: dict) -> str:
    bits = [rec["market"], rec["product"], rec.get("method", ""), f"seller {rec.get('seller', '')}",
            f"session {rec.get('session', 1)}"]
    return " / ".join(b for b in bits if b)


def render_markdown(sections: list[tuple[str, list[tuple[dict, dict]]]], title: str) -> str:
    out = [f"# {title}", "", "Thoughts are shown in full (the opponent saw only Talk and Action). "
           "Scores: CS consumer surplus, NP negotiation power, AR acquisition ratio, score = 1.0139 CS + 0.8812 NP "
           "+ 1.1049 AR per deal (0 without a deal).", ""]
    for name, pairs in sections:
        out += [f"## {name}", ""]
        if not pairs:
            out += ["(no sessions)", ""]
        for rec, ses in pairs:
            out += [f"### {_title(rec)}", "", f"- prices: {_facts(rec)}", f"- outcome: **{_score_line(rec)}**",
                    f"- buyer replies: {rec.get('buyer_turns', 0)}; unparseable replies: {rec.get('unparseable', 0)}"]
            if rec.get("flags"):
                out.append(f"- flags: {', '.join(rec['flags'])}")
            if rec.get("og_compliance") is not None:
                out.append(f"- OG-Narrator price compliance: {rec['og_compliance']:.0%}")
            out.append("")
            fb = (ses.get("extra") or {}).get("feedback")
            if fb:
                out += ["Across-session feedback in the buyer's prompt:", "", "```", fb, "```", ""]
            for t in ses["turns"]:
                who = "**Buyer**" if t["role"] == "buyer" else "**Seller**"
                body = t["text"].strip().replace("\n", "  \n")
                out.append(f"{who}: {body}")
                if t.get("note"):
                    out.append(f"> *instruction this turn:* {t['note']}")
                if t.get("problem"):
                    out.append(f"> *parse problem:* `{t['problem']}`")
                if t.get("self_score"):
                    out.append(f"> *self-score:* {t['self_score']}")
                out.append("")
    return "\n".join(out)


def render_html(sections: list[tuple[str, list[tuple[dict, dict]]]], title: str) -> str:
    e = html.escape
    css = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}"
           ".b{background:#eef5ff}.s{background:#fff4e6}.turn{padding:.4em .6em;margin:.3em 0;border-radius:4px;"
           "white-space:pre-wrap}.meta{color:#555}.note{color:#7a4;font-style:italic}.bad{color:#b00}")
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{css}</style></head><body>",
           f"<h1>{e(title)}</h1><p class='meta'>Thoughts shown in full (the opponent saw only Talk and Action).</p>"]
    for name, pairs in sections:
        out.append(f"<h2>{e(name)}</h2>")
        for rec, ses in pairs:
            out.append(f"<h3>{e(_title(rec))}</h3><p class='meta'>prices: {e(_facts(rec))}<br>"
                       f"outcome: <b>{e(_score_line(rec))}</b><br>unparseable replies: {rec.get('unparseable', 0)}"
                       + (f"<br>flags: {e(', '.join(rec['flags']))}" if rec.get("flags") else "") + "</p>")
            fb = (ses.get("extra") or {}).get("feedback")
            if fb:
                out.append(f"<p class='meta'>Across-session feedback in the buyer's prompt:</p><pre>{e(fb)}</pre>")
            for t in ses["turns"]:
                cls = "b" if t["role"] == "buyer" else "s"
                out.append(f"<div class='turn {cls}'><b>{'Buyer' if cls == 'b' else 'Seller'}:</b> {e(t['text'])}</div>")
                if t.get("note"):
                    out.append(f"<div class='note'>instruction this turn: {e(t['note'])}</div>")
                if t.get("problem"):
                    out.append(f"<div class='bad'>parse problem: {e(t['problem'])}</div>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(path_stem: str | Path, sections: list[tuple[str, list[tuple[dict, dict]]]], fmt: str = "md",
                 title: str = "BargainArena transcripts") -> list[Path]:
    """Write ``<stem>.md`` and/or ``<stem>.html``; returns the written paths."""
    stem = Path(path_stem)
    paths = []
    if fmt in ("md", "both"):
        paths.append(atomic_write_text(stem.with_suffix(".md"), render_markdown(sections, title)))
    if fmt in ("html", "both"):
        paths.append(atomic_write_text(stem.with_suffix(".html"), render_html(sections, title)))
    return paths
