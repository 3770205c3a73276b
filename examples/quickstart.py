"""The Python API in 30 lines: HPO → linked entities → GNN embeddings → knowledge-aware MiniLM → explanations.

Run from the repository root:  .venv/bin/python examples/quickstart.py   (about 2 minutes on 2 CPU cores)
"""

from pathlib import Path

import kgenhance as kg

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "medical_abstracts"

# 1. Load an ontology (RDF/OWL/Turtle/JSON-LD/OBO; a directory loads every file in it).
graph = kg.load_graph(ROOT / "graphs" / "hpo" / "hp.obo")
print(graph)

# 2. Link its entities in text.
linker = kg.EntityLinker.from_graph(graph)
for m in linker.link("The patient had seizures and atrial fibrillation."):
    print(f"  {m.surface!r} -> {m.label} <{m.entity}> score {m.score:.2f}")

# 3. Entity embeddings from a relational GNN trained by link prediction.
embeddings = kg.train_entity_encoder(graph, kg.EncoderConfig(epochs=10))

# 4. Fine-tune the default encoder (all-MiniLM-L6-v2) with a knowledge-attention layer.
result = kg.train_classifier(
    DATA / "train.csv", DATA / "validation.csv", ROOT / "runs" / "quickstart",
    graph=graph, embeddings=embeddings,
    config=kg.TrainingConfig(epochs=1, max_train_samples=200, max_eval_samples=100),
)
print("validation accuracy", round(result.metrics["accuracy"], 3), "macro-F1", round(result.metrics["macro_f1"], 3))

# 5. Predict and see which entities each prediction rests on.
model = kg.KnowledgeAwareClassifier.from_pretrained(ROOT / "runs" / "quickstart")
for p in model.predict(["Recurrent ventricular tachycardia after myocardial infarction."], explain=True):
    print(p.label, {k: round(v, 3) for k, v in p.probabilities.items()})
    for e in p.entities:
        print(f"  {e.surface!r} -> {e.label}: weight {e.weight:.3f}, attribution {e.attribution:+.4f}, "
              f"Δp without it {e.ablation_delta:+.4f}, path {' → '.join(s['label'] for s in e.path[:4])}")
