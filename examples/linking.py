"""Entity linking on its own: normalisation, abbreviations, fuzzy candidates, aliases, a corpus report.

    .venv/bin/python examples/linking.py
"""

from pathlib import Path

from kgenhance import load_graph
from kgenhance.demo import HPO_NON_PHENOTYPE_BRANCHES
from kgenhance.link import EntityLinker, add_aliases
from kgenhance.train import read_texts

ROOT = Path(__file__).resolve().parents[1]
graph = load_graph(ROOT / "graphs/hpo/hp.obo")

# Defaults: normalised + lemmatised dictionary matching and in-text abbreviations; HPO's
# modifier branches ("Left", "Acute", frequencies …) are left out, as the demo does.
linker = EntityLinker.from_graph(graph, exclude_branches=HPO_NON_PHENOTYPE_BRANCHES)
text = "Generalised tonic-clonic seizures and atrial fibrillation (AF); AF recurred with oesophagitis."
for m in linker.link(text):
    print(f"{m.surface!r:32} -> {m.label}  [{m.match}, score {m.score:.2f}]")

# Misspellings need fuzzy candidates (character 3-gram TF-IDF). The default threshold, 0.9,
# was tuned on BC5CDR, where fuzzy matches are mostly false alarms; for typo-ridden text a
# lower one catches misspellings.
fuzzy = EntityLinker.from_graph(graph, fuzzy=True, fuzzy_threshold=0.8)
print([(m.surface, m.label, m.match) for m in fuzzy.link("hypertrophic cardiomyopaty, atrial fibrilation")])
print("top candidates:", [(c.label, round(c.score, 2)) for c in fuzzy.candidates("renal insufficency", k=3)])

# Your own names for entities (e.g. seen in annotated text): the graph's embeddings stay valid.
seizure = graph.entity("http://purl.obolibrary.org/obo/HP_0001250")
custom = EntityLinker.from_graph(add_aliases(graph, [("fits", seizure.iri)]), exclude_branches=HPO_NON_PHENOTYPE_BRANCHES)
print([(m.surface, m.label) for m in custom.link("She had two fits last week.")])

# What a corpus looks like to the linker, and what it misses.
texts = read_texts(ROOT / "examples/data/medical_abstracts/validation.csv", "text")
print(linker.report(texts, top=8).format())
