"""Does the ontology describe the labels? A cross-validated linear probe on the training texts alone.

Knowledge helps a classifier when the ontology's concepts say something about the labels
that the words do not: HPO's phenotypes and the medical abstracts' disease classes; FIBO's
financial entities and a tweet's sentiment do not (BENCHMARKS.md, "Bag-of-concepts head").
`probe_concepts` measures that before any fine-tuning: logistic regression on TF-IDF words,
and on the words plus the linked entities lifted to all their ``is_a`` ancestors (what the
concept bag sees), k-fold cross-validated on the training examples — the validation data is
never read. The ontology is taken to describe the labels when its concepts alone predict them
about as well as the words (`min_ratio`, 0.9) and add to them (`min_gain`, 0.01 macro-F1). On
the training data of issue 6's two datasets (BENCHMARKS.md, "Which settings: the probe")
the lifted HPO concepts alone scored 1.00–2.62× the words on the medical abstracts (100 to
1,990 examples), FIBO's 0.54–1.13× on finance tweets at 100 and 0.65–0.74× at 500, where
the gain alone (up to +0.028) was within the folds' noise. Its `recommendation` is the
fine-tuning settings that gained where the ontology describes the labels, and the harmless
gated layer where it does not; `train --auto` and
`compare --auto` probe each run's training examples and use it.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import DataError
from .data import load_examples

if TYPE_CHECKING:  # pragma: no cover
    import scipy.sparse as sp

    from ..graph import KnowledgeGraph
    from ..link import EntityLinker, LinkerConfig
    from .trainer import TrainingConfig


@dataclass(frozen=True)
class KnowledgeSettings:
    """A knowledge-aware configuration the probe chooses: model options, the knowledge layer's
    learning rate and the linker's generic-word cut (None: leave the linker's as it is)."""

    name: str
    model_options: tuple[tuple[str, Any], ...]
    knowledge_learning_rate: float
    generic_zipf: float | None
    flags: tuple[str, ...]  # the same as `kgenhance train`/`compare` options

    def apply(self, training: "TrainingConfig", linker: "LinkerConfig") -> tuple[dict, "TrainingConfig", "LinkerConfig"]:
        """The model options, and `training` and `linker` with these settings in place."""
        return (dict(self.model_options), replace(training, knowledge_learning_rate=self.knowledge_learning_rate),
                linker if self.generic_zipf is None else replace(linker, generic_zipf=self.generic_zipf))


# what gained where concepts add to words (medical abstracts + HPO), and what stayed within a
# fraction of a point of plain where they did not (finance tweets + FIBO): BENCHMARKS.md
DESCRIBES_LABELS = KnowledgeSettings(
    "names + concept bag", (("fusion", "kar"), ("entity_text", 8), ("concept_bag", True)), 5e-5, None,
    ("--fusion", "kar", "--entity-text", "8", "--knowledge-learning-rate", "5e-5", "--concept-bag"),
)
DOES_NOT = KnowledgeSettings(
    "gated layer", (("fusion", "kar"), ("knowledge_gate", True)), 5e-5, 5.0,
    ("--fusion", "kar", "--gate", "--generic-zipf", "5.0", "--knowledge-learning-rate", "5e-5"),
)


@dataclass
class ProbeResult:
    """Cross-validated macro-F1 of words alone and of words + lifted concepts on the training texts."""

    examples: int
    folds: int
    texts_with_concepts: float  # share of training texts with at least one linked entity
    words_f1: float
    combined_f1: float  # words + linked entities lifted to their ancestors
    concepts_f1: float  # lifted concepts alone
    min_gain: float
    min_ratio: float = 0.9
    per_fold: dict[str, list[float]] = field(default_factory=dict)

    @property
    def gain(self) -> float:
        """What the concepts add to the words (macro-F1, cross-validated)."""
        return self.combined_f1 - self.words_f1

    @property
    def describes_labels(self) -> bool:
        """Whether the concepts alone score at least `min_ratio` × the words and add at least `min_gain` to them."""
        return self.concepts_f1 >= self.min_ratio * self.words_f1 and self.gain >= self.min_gain

    @property
    def recommendation(self) -> KnowledgeSettings:
        """The knowledge-aware settings for this ontology and data."""
        return DESCRIBES_LABELS if self.describes_labels else DOES_NOT

    def to_dict(self) -> dict:
        """JSON-ready: the scores, the gain and the recommended options."""
        return asdict(self) | {"gain": self.gain, "describes_labels": self.describes_labels,
                               "recommendation": " ".join(self.recommendation.flags)}


def concept_matrix(linker: "EntityLinker", texts: Sequence[str], ancestors: np.ndarray | None) -> "sp.csr_matrix":
    """(texts × entities) 0/1 rows of each text's linked entities (and, given the `ancestor_table`
    as an array, all their ancestors), each row scaled to unit length."""
    import scipy.sparse as sp

    graph = linker.graph
    rows, cols = [], []
    for r, text in enumerate(texts):
        ids: set[int] = set()
        for m in linker.link(text):
            i = graph.id_of(m.entity)
            ids.update((ancestors[i + 1][ancestors[i + 1] > 0] - 1).tolist() if ancestors is not None else [i])
        rows += [r] * len(ids)
        cols += sorted(ids)
    x = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(graph.entities)))
    norm = np.sqrt(np.maximum(np.asarray(x.sum(1)).ravel(), 1.0))
    return sp.diags(1.0 / norm) @ x


def probe_concepts(
    train: str | Path,
    linker: "EntityLinker",
    *,
    folds: int = 5,
    max_train_samples: int | None = None,
    seed: int = 42,
    max_ancestors: int = 32,
    regularisation: float = 10.0,
    min_gain: float = 0.01,
    min_ratio: float = 0.9,
    text_column: str = "text",
    label_column: str = "label",
    progress: bool = False,
) -> ProbeResult:
    """Cross-validate words vs words + lifted concepts on the `train` file (`max_train_samples`:
    the same seeded subset `train`/`compare` draw); `min_gain` is the macro-F1 the concepts must add
    to the words, `min_ratio` the share of the words' macro-F1 they must reach alone."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import KFold, StratifiedKFold

    from ..model.hierarchy import ancestor_table

    examples = load_examples(train, text_column, label_column).subset(max_train_samples, seed)
    texts, labels = examples.texts, np.asarray(examples.labels)
    _, counts = np.unique(labels, return_counts=True)
    if len(counts) < 2:
        raise DataError(f"{train}: the probe needs at least two labels, found {len(counts)}")
    if folds < 2 or len(texts) < folds:
        raise DataError(f"{train}: {len(texts)} examples cannot be split into {folds} folds (need ≥ 2 folds)")
    lifted = concept_matrix(linker, texts, ancestor_table(linker.graph, max_ancestors).numpy())
    splits = max(2, min(folds, int(counts.min())))
    splitter = (StratifiedKFold(splits, shuffle=True, random_state=seed) if counts.min() >= 2
                else KFold(folds, shuffle=True, random_state=seed))
    scores: dict[str, list[float]] = {"words": [], "words + lifted concepts": [], "lifted concepts": []}
    from tqdm.auto import tqdm

    folds_iter = tqdm(list(splitter.split(texts, labels)), desc="probing (cross-validation folds)", unit="fold",
                      disable=not progress)
    for fit_idx, test_idx in folds_iter:
        tfidf = TfidfVectorizer(sublinear_tf=True).fit([texts[i] for i in fit_idx])
        words = tfidf.transform(texts)
        for name, x in (("words", words), ("words + lifted concepts", sp.hstack([words, lifted]).tocsr()),
                        ("lifted concepts", lifted)):
            clf = LogisticRegression(C=regularisation, max_iter=5000).fit(x[fit_idx], labels[fit_idx])
            scores[name].append(float(f1_score(labels[test_idx], clf.predict(x[test_idx]), average="macro")))
    return ProbeResult(
        examples=len(texts),
        folds=splitter.get_n_splits(),
        texts_with_concepts=float((lifted.getnnz(axis=1) > 0).mean()),
        words_f1=statistics.mean(scores["words"]),
        combined_f1=statistics.mean(scores["words + lifted concepts"]),
        concepts_f1=statistics.mean(scores["lifted concepts"]),
        min_gain=min_gain,
        min_ratio=min_ratio,
        per_fold=scores,
    )


def probe_run(train: Any, graph: "KnowledgeGraph", linker: "LinkerConfig", training: "TrainingConfig",
              progress: bool = False) -> tuple[ProbeResult, dict, "TrainingConfig", "LinkerConfig"]:
    """Probe the training examples a run with these settings reads (its subset and seed) and return
    the probe with its recommended model options, training and linker settings (`train/compare --auto`)."""
    from ..link import EntityLinker

    probe = probe_concepts(train, EntityLinker(graph, linker), max_train_samples=training.max_train_samples,
                           seed=training.seed, text_column=training.text_column, label_column=training.label_column,
                           progress=progress)
    return (probe, *probe.recommendation.apply(training, linker))


def format_probe(result: ProbeResult) -> str:
    """The probe's scores and its recommendation as a few lines of text."""
    verdict = ("the concepts predict the labels about as well as the words and add to them: the ontology "
               "describes these labels" if result.describes_labels else
               f"the concepts reach less than {result.min_ratio:.2f}× the words alone or add less than "
               f"{result.min_gain:+.3f}: the ontology does not describe these labels")
    return "\n".join([
        f"{result.examples} training examples, {result.folds}-fold cross-validated macro-F1 "
        f"({100 * result.texts_with_concepts:.0f}% of texts have a linked entity):",
        f"  words                     {result.words_f1:.3f}",
        f"  lifted concepts alone     {result.concepts_f1:.3f}   ({result.concepts_f1 / max(result.words_f1, 1e-9):.2f}× words)",
        f"  words + lifted concepts   {result.combined_f1:.3f}   ({result.gain:+.3f})",
        verdict,
        "recommended: " + " ".join(result.recommendation.flags),
    ])


__all__ = ["DESCRIBES_LABELS", "DOES_NOT", "KnowledgeSettings", "ProbeResult", "concept_matrix", "format_probe",
           "probe_concepts", "probe_run"]
