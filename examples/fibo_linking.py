"""FIBO: load the Financial Industry Business Ontology, link financial sentences, inspect the concepts.

Run from the repository root:  .venv/bin/python examples/fibo_linking.py   (about 15 s; 2 s once cached)

Writes runs/fibo_links.html: each sentence with its linked FIBO concepts highlighted; hover
a highlight for the IRI, the definition and the path up FIBO's class hierarchy.
"""

from pathlib import Path

import kgenhance as kg
from kgenhance.htmlview import mentions_html, write_html

ROOT = Path(__file__).resolve().parents[1]

# 1. A directory loads every module in it; FIBO's XML catalog resolves its imports to local files.
#    Imports of ontologies not bundled (OMG Commons, LCC) are listed, never fetched.
graph = kg.load_graph(ROOT / "graphs" / "fibo")
stats = graph.stats()
print(f"FIBO: {stats['entities']:,} entities, {stats['edges']:,} edges, "
      f"{len(graph.unresolved_imports)} unresolved imports (not fetched)")

# 2. A linker built from FIBO's own labels and synonyms.
linker = kg.EntityLinker.from_graph(graph)
sentences = [
    "The central bank raised the interest rate on overnight loans to commercial banks.",
    "Apple Inc. issued senior unsecured bonds denominated in euros.",
    "The hedge fund bought credit default swaps and sold equity options on the stock exchange.",
    "A mortgage lender must disclose the annual percentage rate to every borrower.",
]
mentions = [linker.link(s) for s in sentences]

# 3. Each linked concept with its definition and its path to the top of FIBO's hierarchy.
for sentence, found in zip(sentences, mentions):
    print(f"\n{sentence}")
    for m in found:
        path = " → ".join(e.display_label for e in graph.path_to_root(m.entity, max_depth=6))
        definition = (graph.entity(m.entity).definition or "").split(". ")[0][:90]
        print(f"  {m.surface!r:24} {m.label}  <{m.entity}>")
        print(f"  {'':24} path: {path}")
        if definition:
            print(f"  {'':24} definition: {definition}")

# 4. Coverage over the sentences, and a page to look at.
report = linker.report(sentences)
print(f"\ncoverage {report.coverage:.2f}, {report.mentions_per_text:.1f} concepts per sentence")
out = ROOT / "runs" / "fibo_links.html"
write_html(out, mentions_html(sentences, mentions, graph, title="FIBO concepts in financial sentences"))
print(f"HTML view -> {out}")
