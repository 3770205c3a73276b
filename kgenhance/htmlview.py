"""A self-contained HTML page of linked entities and explained predictions (no CDN, no script)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Iterable, Sequence

from ._io import write_text_atomic

if TYPE_CHECKING:  # pragma: no cover
    from .graph.model import KnowledgeGraph
    from .link.types import Mention
    from .model.explain import Prediction

_CSS = """
body { font: 15px/1.55 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #1d2430; }
h1 { font-size: 1.3rem; } .meta { color: #5b6576; font-size: .85rem; }
article { border: 1px solid #d8dde6; border-radius: 8px; padding: .8rem 1rem; margin: 1rem 0; }
.head { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
.label { font-weight: 600; } .probs span { margin-right: .8rem; font-size: .85rem; color: #39424f; }
.text { white-space: pre-wrap; margin: .6rem 0; }
mark { border-radius: 3px; padding: 0 2px; border-bottom: 2px solid #2b6cb0; cursor: help; color: inherit; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
td, th { text-align: left; padding: .2rem .5rem; border-top: 1px solid #eef1f5; vertical-align: top; }
.path { color: #5b6576; } .bar { background: #2b6cb0; height: .5rem; display: inline-block; }
"""


def _colour(weight: float) -> str:
    alpha = 0.12 + 0.6 * max(0.0, min(1.0, weight))
    return f"rgba(43,108,176,{alpha:.2f})"


def _path(graph: "KnowledgeGraph | None", iri: str) -> str:
    if graph is None or iri not in graph:
        return ""
    return " → ".join(e.display_label for e in graph.path_to_root(iri, max_depth=16))  # as in explanations


def _definition(graph: "KnowledgeGraph | None", iri: str) -> str:
    if graph is None or iri not in graph:
        return ""
    return graph.entity(iri).definition or ""


def _highlight(text: str, spans: Sequence[dict]) -> str:
    """The text with each span in a <mark> (nested or overlapping spans after the first are skipped)."""
    out, pos = [], 0
    for s in sorted(spans, key=lambda s: (s["start"], -s["end"])):
        if s["start"] < pos or not 0 <= s["start"] < s["end"] <= len(text):
            continue
        out.append(html.escape(text[pos : s["start"]]))
        tip = "\n".join(
            x for x in (f'{s["label"]} <{s["entity"]}>', s.get("scores", ""), s.get("path", ""), s.get("definition", ""))
            if x
        )
        out.append(
            f'<mark style="background:{_colour(s.get("weight", s.get("score", 0.5)))}" '
            f'title="{html.escape(tip)}" data-entity="{html.escape(s["entity"])}" '
            f'data-start="{s["start"]}" data-end="{s["end"]}">{html.escape(text[s["start"]:s["end"]])}</mark>'
        )
        pos = s["end"]
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _signed(value: float | None, note: str = "", supports_when_negative: bool = False) -> str:
    """A table cell with a signed number, green where it supports the prediction, red where it opposes."""
    if value is None:
        return '<td class="meta">–</td>'
    colour = "#1e7b4a" if (value < 0) == supports_when_negative else "#b03a2e"
    note = f' <span class="meta">{html.escape(note)}</span>' if note else ""
    return f'<td><span style="color:{colour}">{value:+.4f}</span>{note}</td>'


def _entity_table(spans: Sequence[dict], weighted: bool) -> str:
    if not spans:
        return '<p class="meta">no linked entities</p>'
    head = "<tr><th>span</th><th>entity</th><th>link score</th>" + (
        "<th>weight</th><th>attribution</th><th>Δp removed</th><th>Δp runner-up</th>" if weighted else ""
    ) + "</tr>"
    rows = []
    described: set[str] = set()  # an entity's path and definition are shown at its first row only
    order = sorted(spans, key=lambda s: -s.get("weight", 0.0)) if weighted else spans
    for s in order:
        weight = ""
        if weighted:
            w = s.get("weight", 0.0)
            weight = f'<td><span class="bar" style="width:{w * 6:.2f}rem"></span> {w:.3f}</td>'
            weight += _signed(s.get("attribution")) + _signed(s.get("ablation_delta"), supports_when_negative=True)
            weight += _signed(s.get("swap_delta"), s.get("swap_label") or "", supports_when_negative=True)
        first = s["entity"] not in described
        described.add(s["entity"])
        text = s.get("definition") or ""
        if len(text) > 240:  # the whole definition is in the highlight's hover card
            text = text[:240].rsplit(" ", 1)[0] + " …"
        definition = f'<div class="meta">{html.escape(text)}</div>' if text and first else ""
        path = f'<div class="path">{html.escape(s["path"])}</div>' if s.get("path") and first else ""
        rows.append(
            f'<tr><td>“{html.escape(s["surface"])}”</td>'
            f'<td><b>{html.escape(s["label"])}</b> <span class="meta">{html.escape(s["entity"])}</span>'
            f"{path}{definition}</td><td>{s['score']:.3f}</td>{weight}</tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _concept_votes(concepts: Sequence[dict], label: str) -> str:
    """A line of the concept-bag head's strongest votes for the predicted label (green for, red against)."""
    if not concepts:
        return ""
    votes = "".join(
        f'<span style="color:{"#1e7b4a" if c["vote"] >= 0 else "#b03a2e"};margin-right:.8rem" '
        f'title="{html.escape(c["entity"])}">{html.escape(c["label"])} {c["vote"]:+.3f}</span>'
        for c in concepts
    )
    return (f'<p class="meta">Concept votes for <b>{html.escape(label)}</b> (linked entities and their '
            f"ancestors, bag-of-concepts head):</p><p>{votes}</p>")


def _page(title: str, subtitle: str, articles: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="meta">{html.escape(subtitle)}</p>'
        + "".join(articles)
        + "</body></html>\n"
    )


def predictions_html(predictions: Sequence["Prediction"], graph: "KnowledgeGraph | None" = None,
                     title: str = "kgenhance predictions") -> str:
    """A page with each text, its label and probabilities, and its entities coloured by weight."""
    articles = []
    for i, p in enumerate(predictions, 1):
        spans = [
            {
                "start": e.start, "end": e.end, "surface": e.surface, "entity": e.entity, "label": e.label,
                "score": e.link_score, "weight": e.weight,
                "path": " → ".join(step["label"] for step in e.path) if e.path else _path(graph, e.entity),
                "definition": _definition(graph, e.entity),
                "attribution": e.attribution, "ablation_delta": e.ablation_delta, "swap_delta": e.swap_delta,
                "swap_label": _label(graph, e.swap_entity),
                "scores": _scores(e),
            }
            for e in p.entities
        ]
        probs = "".join(
            f"<span>{html.escape(k)} {v:.3f}</span>" for k, v in sorted(p.probabilities.items(), key=lambda kv: -kv[1])
        )
        cut = ('<p class="meta truncated">The model read only the beginning of this text (its word-piece '
               "window); entities past it were not linked.</p>") if p.truncated else ""
        articles.append(
            f'<article id="t{i}"><div class="head"><span class="meta">#{i}</span>'
            f'<span class="label">{html.escape(p.label)}</span><span class="probs">{probs}</span></div>'
            f'<div class="text">{_highlight(p.text, spans)}</div>{cut}{_entity_table(spans, weighted=True)}'
            f"{_concept_votes(p.concepts, p.label)}</article>"
        )
    return _page(title, f"{len(predictions)} texts; highlight strength = the entity's share of knowledge attention; "
                 "attribution = gradient × input on the entity's embedding; Δp = change of the predicted class's "
                 "probability without the entity's knowledge, or with the linker's runner-up instead; green: supports the "
                 "prediction, red: opposes it", articles)


def _label(graph: "KnowledgeGraph | None", iri: str | None) -> str:
    if iri is None:
        return ""
    return graph.entity(iri).display_label if graph is not None and iri in graph else iri


def _scores(e) -> str:
    parts = [f"link score {e.link_score:.3f}", f"weight {e.weight:.3f}"]
    if e.attribution is not None:
        parts.append(f"attribution {e.attribution:+.4f}")
    if e.ablation_delta is not None:
        parts.append(f"Δp removed {e.ablation_delta:+.4f}")
    return ", ".join(parts)


def mentions_html(texts: Sequence[str], mentions: Sequence[Sequence["Mention"]],
                  graph: "KnowledgeGraph | None" = None, title: str = "kgenhance linked entities") -> str:
    """A page with each text and its linked mentions (highlight strength = link score)."""
    articles = []
    for i, (text, ms) in enumerate(zip(texts, mentions), 1):
        spans = [
            {
                "start": m.start, "end": m.end, "surface": m.surface, "entity": m.entity,
                "label": m.label or "no entity (NIL)", "score": m.score, "weight": m.score, "path": _path(graph, m.entity),
                "definition": _definition(graph, m.entity), "scores": f"link score {m.score:.3f} ({m.match})",
            }
            for m in ms
        ]
        articles.append(
            f'<article id="t{i}"><div class="head"><span class="meta">#{i}</span></div>'
            f'<div class="text">{_highlight(text, spans)}</div>{_entity_table(spans, weighted=False)}</article>'
        )
    return _page(title, f"{len(texts)} texts; highlight strength = link score", articles)


def write_html(path, page: str) -> None:
    """Write a page atomically."""
    write_text_atomic(path, page)
