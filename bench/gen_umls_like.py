"""Write a UMLS-sized synthetic ontology as N-Triples (deterministic for a given size and seed).

    python bench/gen_umls_like.py OUT.nt --triples 10000000

Each concept is an owl:Class with one rdfs:label (2–5 words from a 600-word medical-ish
vocabulary), 0–3 exact/related synonyms (mean 1.14), a definition for 15%, 1–2 UMLS-style CUI xrefs
for 30%, 1–2 rdfs:subClassOf parents (mean 1.2; parents are earlier concepts, so the
hierarchy has no cycles) and 0–2 typed relations out of 40 relation types (mean 0.57).
About 5.5 triples per concept: 11 M triples are 2.0 M concepts. `--triples` sets the
target and the concept count follows.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

NS = "http://example.org/umls-like/"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
OWL_CLASS = "<http://www.w3.org/2002/07/owl#Class>"
LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"
SUBCLASS = "<http://www.w3.org/2000/01/rdf-schema#subClassOf>"
EXACT = "<http://www.geneontology.org/formats/oboInOwl#hasExactSynonym>"
RELATED = "<http://www.geneontology.org/formats/oboInOwl#hasRelatedSynonym>"
XREF = "<http://www.geneontology.org/formats/oboInOwl#hasDbXref>"
DEFINITION = "<http://purl.obolibrary.org/obo/IAO_0000115>"
OBJ_PROP = "<http://www.w3.org/2002/07/owl#ObjectProperty>"

TRIPLES_PER_CONCEPT = 5.5

_SYLLABLES = ("car", "dio", "neu", "ro", "gas", "tro", "hep", "at", "nep", "hr", "pul", "mon", "ost", "eo",
              "derm", "my", "col", "lyt", "angi", "plas", "cyt", "leuk", "thromb", "lip", "glyc", "ren",
              "path", "itis", "oma", "osis", "algia", "ectomy", "emia", "uria", "pathy", "genic")


def vocabulary(rng: random.Random, size: int = 600) -> list[str]:
    """Pseudo-medical words plus common qualifiers."""
    words = {"acute", "chronic", "congenital", "primary", "secondary", "malignant", "benign", "left", "right",
             "type", "syndrome", "disease", "disorder", "deficiency", "of", "the", "with", "without"}
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def generate(out: Path, triples: int, seed: int = 13) -> dict:
    """Write the file; returns the number of concepts and triples written."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    n = max(10, int(triples / TRIPLES_PER_CONCEPT))
    n_rel = 40
    written = 0
    buf: list[str] = []
    with open(out, "w", encoding="utf-8") as fh:
        for r in range(n_rel):
            buf.append(f"<{NS}rel{r}> {RDF_TYPE} {OBJ_PROP} .\n<{NS}rel{r}> {LABEL} \"relation {r}\" .\n")
            written += 2
        for i in range(n):
            c = f"<{NS}C{i:07d}>"
            label = " ".join(rng.choices(words, k=rng.randint(2, 5)))
            lines = [f"{c} {RDF_TYPE} {OWL_CLASS} .", f'{c} {LABEL} "{_esc(label)}"@en .']
            for _ in range(rng.choice((0, 0, 1, 1, 1, 2, 3))):  # mean 1.14
                syn = " ".join(rng.choices(words, k=rng.randint(1, 5)))
                lines.append(f'{c} {EXACT if rng.random() < 0.8 else RELATED} "{_esc(syn)}" .')
            if rng.random() < 0.15:
                lines.append(f'{c} {DEFINITION} "{_esc(" ".join(rng.choices(words, k=12)))}."@en .')
            if rng.random() < 0.3:
                for _ in range(rng.randint(1, 2)):
                    lines.append(f'{c} {XREF} "UMLS:C{rng.randrange(10**7):07d}" .')
            if i:
                for _ in range(1 if rng.random() < 0.8 else 2):
                    lines.append(f"{c} {SUBCLASS} <{NS}C{rng.randrange(i):07d}> .")
            if i > 1:
                for _ in range(rng.choice((0, 0, 0, 0, 1, 1, 2))):  # mean 0.57
                    lines.append(f"{c} <{NS}rel{rng.randrange(n_rel)}> <{NS}C{rng.randrange(n):07d}> .")
            written += len(lines)
            buf.append("\n".join(lines) + "\n")
            if len(buf) >= 20000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))
    return {"concepts": n, "triples": written}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--triples", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    info = generate(args.out, args.triples, args.seed)
    print(f"wrote {args.out}: {info['concepts']:,} concepts, {info['triples']:,} triples", file=sys.stderr)


if __name__ == "__main__":
    main()
