"""Score disease linking on BC5CDR against the Disease Ontology (DOID 2016, MeSH xrefs).

A predicted mention is span-correct when its character offsets equal a gold disease
mention's; it is strictly correct when, in addition, the DOID term chosen carries one of
the gold MeSH ids as a ``MESH:`` xref. Gold mentions whose MeSH ids no DOID term carries
("unlinkable") are counted apart. Two conventions are printed for the strict scores:

* ``all``: recall over every gold disease mention, precision over every prediction (the
  issue's reference figures use this one);
* ``linkable``: gold restricted to linkable mentions; predictions on unlinkable gold
  spans are neither right nor wrong.

With a mention detector (``--detector DIR``) the linker also returns detected spans that
no DOID term fits, as NIL predictions: they count for the span scores, make no entity
claim in the two strict conventions, and are right in a third, NIL-aware one (``nil``,
as in TAC-KBP entity linking: a NIL prediction on an unlinkable gold mention is correct;
precision over every prediction, recall over every gold mention).

Accuracy@1/@5 is normalisation given the gold spans (linkable mentions only).
Systems, all measured in the same run: ``naive`` (pure-Python case-folded longest
match), ``rapidfuzz`` (fuzz.ratio ≥ 90 over every 1–4-word span), ``exact`` (kgenhance
automaton without lemmas or abbreviations), ``kgenhance`` (defaults), ``+fuzzy``,
``+context``, and with ``--detector`` ``detector-spans``, ``-union``, ``-fill`` and
``-confirm`` (the detector's spans linked through the lexicon, combined with the
dictionary's mentions as `LinkerConfig.detector_mode` says); ``--aliases-from`` adds the disease names annotated in another PubTator
file (e.g. the training set when scoring the development set) as synonyms.

    python entity_linking/score_bc5cdr.py --split dev
    python entity_linking/score_bc5cdr.py --split train --docs 250: --aliases-from train --alias-docs :250
    python entity_linking/score_bc5cdr.py --split dev --detector runs/detector-bc5cdr --systems kgenhance,detector-fill
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pubtator import Document, read_pubtator  # noqa: E402

from kgenhance.graph import load_graph  # noqa: E402
from kgenhance.link import EntityLinker, add_aliases  # noqa: E402
from kgenhance.link.context import sentence_around  # noqa: E402
from kgenhance.link.normalize import STOP_WORDS  # noqa: E402

SPLITS = {
    "train": HERE / "data/bc5cdr/CDR_TrainingSet.PubTator.txt",
    "dev": HERE / "data/bc5cdr/CDR_DevelopmentSet.PubTator.txt",
}
DOID = HERE.parent / "graphs/doid/doid_2016-09-01.obo"
HPO = HERE.parent / "graphs/hpo/hp.obo"
DOID_NS = "http://purl.obolibrary.org/obo/DOID_"
_WORD = re.compile(r"\w+")


def parse_slice(spec: str | None) -> slice:
    if not spec:
        return slice(None)
    a, _, b = spec.partition(":")
    return slice(int(a) if a else None, int(b) if b else None)


class MeshIndex:
    """Entity id ↔ MeSH ids.

    An entity's MeSH ids are its own ``MESH:`` xrefs plus, for an entity without any
    (an HPO term when HPO is loaded beside DOID), those of the entities that share one of
    its UMLS CUIs: the UMLS is the standard bridge between the two vocabularies.
    """

    def __init__(self, graph):
        self.mesh_of: dict[int, set[str]] = {}
        self.entities_of: dict[str, list[int]] = {}
        by_cui: dict[str, set[str]] = {}
        for i, e in enumerate(graph.entities):
            ids = {x.split(":", 1)[1] for x in e.xrefs if x.upper().startswith(("MESH:", "MSH:"))}
            if ids:
                self.mesh_of[i] = ids
                for m in ids:
                    self.entities_of.setdefault(m, []).append(i)
                for x in e.xrefs:
                    if x.upper().startswith("UMLS"):
                        by_cui.setdefault(x.split(":", 1)[1], set()).update(ids)
        for i, e in enumerate(graph.entities):
            if i not in self.mesh_of:
                bridged = set().union(*(by_cui.get(x.split(":", 1)[1], set()) for x in e.xrefs if x.upper().startswith("UMLS")))
                if bridged:
                    self.mesh_of[i] = bridged

    def linkable(self, ids) -> bool:
        return any(m in self.entities_of for m in ids)

    def correct(self, entity_id: int, ids) -> bool:
        return bool(self.mesh_of.get(entity_id, set()) & set(ids))


# ---------------------------------------------------------------- baselines
class NaiveMatcher:
    """Case-folded exact longest match over names, in pure Python (the issue's reference)."""

    def __init__(self, graph):
        self.names: dict[tuple[str, ...], int] = {}
        for i, e in enumerate(graph.entities):
            for s in e.names():
                toks = tuple(t.lower() for t in _WORD.findall(s.text))
                if toks and not all(t in STOP_WORDS for t in toks):
                    self.names.setdefault(toks, i)
        self.max_len = max(len(k) for k in self.names)

    def link(self, text: str) -> list[tuple[int, int, int]]:
        words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
        out, i = [], 0
        while i < len(words):
            for n in range(min(self.max_len, len(words) - i), 0, -1):
                eid = self.names.get(tuple(w for _, _, w in words[i : i + n]))
                if eid is not None:
                    out.append((words[i][0], words[i + n - 1][1], eid))
                    i += n
                    break
            else:
                i += 1
        return out


class RapidFuzzMatcher:
    """rapidfuzz's fuzz.ratio over every 1–4-word span, score ≥ cutoff, best non-overlapping."""

    def __init__(self, graph, cutoff: float = 90.0):
        from rapidfuzz import fuzz, process

        self.process, self.scorer, self.cutoff = process, fuzz.ratio, cutoff
        self.names, self.ids = [], []
        for i, e in enumerate(graph.entities):
            for s in e.names():
                name = " ".join(_WORD.findall(s.text.lower()))
                if name and len(name) > 3:
                    self.names.append(name)
                    self.ids.append(i)

    def link(self, text: str) -> list[tuple[int, int, int]]:
        words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
        found = []
        for i in range(len(words)):
            for n in range(1, 5):
                span = words[i : i + n]
                if len(span) < n or span[0][2] in STOP_WORDS or span[-1][2] in STOP_WORDS:
                    continue
                query = " ".join(w for _, _, w in span)
                if len(query) < 4:
                    continue
                hit = self.process.extractOne(query, self.names, scorer=self.scorer, score_cutoff=self.cutoff)
                if hit:
                    found.append((hit[1], n, span[0][0], span[-1][1], self.ids[hit[2]]))
        found.sort(key=lambda f: (-f[0], -f[1], f[2]))
        out, taken = [], []
        for _, _, s, e, eid in found:
            if all(e <= ts or s >= te for ts, te in taken):
                taken.append((s, e))
                out.append((s, e, eid))
        return sorted(out)


# ---------------------------------------------------------------- scoring
def score(docs: list[Document], predictions: list[list[tuple[int, int, int]]], mesh: MeshIndex) -> dict:
    """Span, strict (all / linkable) and NIL-aware scores; an entity id of -1 is a NIL prediction."""
    tp_span = tp_all = tp_link = fp_link = tp_nil = n_pred = n_linked = 0
    gold_all = gold_link = 0
    for doc, preds in zip(docs, predictions):
        gold = {(m.start, m.end): m for m in doc.mentions if m.type == "Disease"}
        gold_all += len(gold)
        gold_link += sum(1 for m in gold.values() if mesh.linkable(m.ids))
        for s, e, eid in preds:
            n_pred += 1
            nil = eid < 0
            n_linked += not nil
            g = gold.get((s, e))
            if g is None:
                fp_link += not nil
                continue
            tp_span += 1
            linkable = mesh.linkable(g.ids)
            ok = not nil and mesh.correct(eid, g.ids)
            tp_all += ok
            tp_nil += ok or (nil and not linkable)
            if linkable and not nil:
                tp_link += ok
                fp_link += not ok

    def prf(tp, n_p, n_g):
        p = tp / n_p if n_p else 0.0
        r = tp / n_g if n_g else 0.0
        return {"p": round(p, 4), "r": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}

    return {
        "predictions": n_pred,
        "nil_predictions": n_pred - n_linked,
        "span": prf(tp_span, n_pred, gold_all),
        "strict_all": prf(tp_all, n_linked, gold_all),
        "strict_linkable": prf(tp_link, tp_link + fp_link, gold_link),
        "strict_nil": prf(tp_nil, n_pred, gold_all),
    }


def accuracy_at_k(linker: EntityLinker, docs: list[Document], mesh: MeshIndex, use_context: bool) -> dict:
    hits1 = hits5 = n = 0
    for doc in docs:
        for m in doc.mentions:
            if m.type != "Disease" or not mesh.linkable(m.ids):
                continue
            n += 1
            ctx = sentence_around(doc.text, m.start, m.end) if use_context else None
            cands = linker.candidates(m.surface, k=5, context=ctx)
            ok = [mesh.correct(c.entity_id, m.ids) for c in cands]
            hits1 += bool(ok[:1] and ok[0])
            hits5 += any(ok)
    return {"acc@1": round(hits1 / n, 4), "acc@5": round(hits5 / n, 4), "n": n}


def linker_predictions(linker: EntityLinker, docs: list[Document]) -> list[list[tuple[int, int, int]]]:
    return [[(m.start, m.end, m.entity_id) for m in ms] for ms in linker.link_batch([d.text for d in docs])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", choices=sorted(SPLITS), default="dev")
    ap.add_argument("--docs", help="slice of documents to score, e.g. 250: (default all)")
    ap.add_argument("--ontology", nargs="+", default=[str(DOID)], help="ontology files (default: DOID 2016)")
    ap.add_argument("--aliases-from", choices=sorted(SPLITS), help="add this split's annotated disease names")
    ap.add_argument("--alias-docs", help="slice of the alias split's documents, e.g. :250")
    ap.add_argument(
        "--systems",
        default="naive,rapidfuzz,exact,kgenhance,fuzzy,context",
        help="comma-separated: naive, rapidfuzz, exact, kgenhance, fuzzy, context, contextual",
    )
    ap.add_argument("--fuzzy-threshold", type=float, default=None)
    ap.add_argument("--detector", help="a trained mention detector (entity_linking/train_detector.py)")
    ap.add_argument("--detector-fuzzy-threshold", type=float, default=None)
    ap.add_argument(
        "--with-hpo",
        action="store_true",
        help="also load the bundled HPO (phenotype branch only) for vocabulary; DOID terms are preferred",
    )
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)

    docs = read_pubtator(SPLITS[args.split])[parse_slice(args.docs)]
    if args.with_hpo:
        args.ontology = [*args.ontology, str(HPO)]
    graph = load_graph(*args.ontology)
    mesh = MeshIndex(graph)
    gold = [m for d in docs for m in d.mentions if m.type == "Disease"]
    linkable = sum(1 for m in gold if mesh.linkable(m.ids))
    print(f"{args.split}{'[' + args.docs + ']' if args.docs else ''}: {len(docs)} documents, "
          f"{len(gold)} disease mentions, {linkable} linkable to DOID by MeSH id, "
          f"{len(gold) - linkable} not ({Counter(m.ids[0] if m.ids else '-' for m in gold if not mesh.linkable(m.ids)).most_common(3)} most frequent)")
    result: dict = {
        "split": args.split,
        "docs": len(docs),
        "gold_disease_mentions": len(gold),
        "linkable": linkable,
        "systems": {},
    }
    if args.aliases_from:
        alias_docs = read_pubtator(SPLITS[args.aliases_from])[parse_slice(args.alias_docs)]
        pairs = [
            (m.surface, graph.entities[mesh.entities_of[i][0]].iri)
            for d in alias_docs
            for m in d.mentions
            if m.type == "Disease"
            for i in m.ids[:1]
            if i in mesh.entities_of
        ]
        graph = add_aliases(graph, pairs)
        result["aliases"] = {"from": args.aliases_from, "docs": len(alias_docs), "pairs": len(set(pairs))}
        print(f"aliases: {len(set(pairs))} (name, DOID term) pairs from {args.aliases_from} ({len(alias_docs)} documents)")

    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    common = {} if args.fuzzy_threshold is None else {"fuzzy_threshold": args.fuzzy_threshold}
    if args.with_hpo:
        from kgenhance.demo import HPO_NON_PHENOTYPE_BRANCHES

        common.update(prefer_namespaces=(DOID_NS,), exclude_branches=HPO_NON_PHENOTYPE_BRANCHES)
    configs = {
        "exact": dict(lemmatize=False, abbreviations=False, **common),
        "kgenhance": dict(common),
        "fuzzy": dict(fuzzy=True, **common),
        "context": dict(fuzzy=True, context=True, **common),
        "contextual": dict(fuzzy=True, context=True, context_mode="contextual", **common),
    }
    if args.detector:
        det = dict(detector=args.detector, keep_unlinked=True, **common)
        if args.detector_fuzzy_threshold is not None:
            det["detector_fuzzy_threshold"] = args.detector_fuzzy_threshold
        for mode in ("spans", "union", "fill", "confirm"):
            configs[f"detector-{mode}"] = dict(det, detector_mode=mode)
    print(f"{'system':<14}{'span P/R/F1':>22}{'strict(all) P/R/F1':>24}{'strict(linkable) P/R/F1':>26}"
          f"{'strict(nil) P/R/F1':>24}{'acc@1':>7}{'acc@5':>7}{'sec':>7}")
    for name in systems:
        t0 = time.perf_counter()
        acc = {}
        if name == "naive":
            matcher = NaiveMatcher(graph)
            preds = [matcher.link(d.text) for d in docs]
        elif name == "rapidfuzz":
            matcher = RapidFuzzMatcher(graph)
            preds = [matcher.link(d.text) for d in docs]
        elif name in configs:
            linker = EntityLinker.from_graph(graph, **configs[name])
            preds = linker_predictions(linker, docs)
            acc = accuracy_at_k(linker, docs, mesh, use_context=name in ("context", "contextual"))
        else:
            ap.error(f"unknown system {name!r}")
        seconds = time.perf_counter() - t0
        r = score(docs, preds, mesh) | acc | {"seconds": round(seconds, 1)}
        result["systems"][name] = r

        def f(d):
            return f"{d['p']:.3f}/{d['r']:.3f}/{d['f1']:.3f}"

        print(f"{name:<14}{f(r['span']):>22}{f(r['strict_all']):>24}{f(r['strict_linkable']):>26}"
              f"{f(r['strict_nil']):>24}{r.get('acc@1', float('nan')):>7.3f}{r.get('acc@5', float('nan')):>7.3f}"
              f"{seconds:>7.1f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
