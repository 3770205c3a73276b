"""`probe_concepts` / `kgenhance probe`: words vs words + lifted concepts, cross-validated on the training data."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from kgenhance.cli import app
from kgenhance.errors import DataError
from kgenhance.link import EntityLinker
from kgenhance.link import LinkerConfig
from kgenhance.train import ProbeResult, TrainingConfig, probe_concepts
from kgenhance.train.probe import DESCRIBES_LABELS, DOES_NOT

from conftest import write_csv

CARDIAC = ["atrial fibrillation", "arrhythmia", "heart disease", "cardiac disease"]
NERVOUS = ["seizure", "convulsion", "nervous system disease", "seizures"]
OPENINGS = ["the patient had", "a history of", "was treated for", "the scan showed"]


def _rows(label_of, n=60, seed=0):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cardiac = i % 2 == 0
        age = rng.choice(["child", "adult"])
        text = f"{rng.choice(OPENINGS)} {rng.choice(CARDIAC if cardiac else NERVOUS)} in the {age}"
        rows.append((text, label_of(cardiac, age)))
    return rows


def test_concepts_that_decide_the_label_are_found_and_words_that_do_are_not_credited_to_them(tiny_graph, tmp_path):
    linker = EntityLinker(tiny_graph)
    by_concept = write_csv(tmp_path / "concept.csv", _rows(lambda cardiac, age: "cardio" if cardiac else "neuro"))
    result = probe_concepts(by_concept, linker, folds=4)
    assert result.examples == 60 and result.folds == 4 and result.texts_with_concepts == 1.0
    assert result.concepts_f1 >= 0.95  # HeartDisease vs NervousDisease, whatever the name
    assert len(result.per_fold["words"]) == 4

    by_word = write_csv(tmp_path / "word.csv", _rows(lambda cardiac, age: age))
    result = probe_concepts(by_word, linker, folds=4)
    assert result.words_f1 >= 0.95 and result.concepts_f1 <= 0.75  # the ontology knows no ages
    assert not result.describes_labels and result.recommendation == DOES_NOT

    sub = probe_concepts(by_word, linker, folds=4, max_train_samples=40, seed=3)
    assert sub.examples == 40


def test_recommendation_follows_the_gain():
    common = dict(examples=100, folds=5, texts_with_concepts=0.9, concepts_f1=0.4, min_gain=0.01)
    gains = ProbeResult(words_f1=0.30, combined_f1=0.39, **common)
    assert gains.gain == pytest.approx(0.09) and gains.describes_labels and gains.recommendation == DESCRIBES_LABELS
    assert "--concept-bag" in gains.to_dict()["recommendation"]
    options, training, linker = gains.recommendation.apply(TrainingConfig(), LinkerConfig(generic_zipf=4.0))
    assert options == {"fusion": "kar", "entity_text": 8, "concept_bag": True}
    assert training.knowledge_learning_rate == 5e-5 and linker.generic_zipf == 4.0  # the user's cut stays
    none = ProbeResult(words_f1=0.47, combined_f1=0.475, **common)
    assert not none.describes_labels and "--gate" in none.recommendation.flags
    # concepts that add a little but alone fall far short of the words (finance at 500: 0.65-0.74x)
    weak = ProbeResult(examples=500, folds=5, texts_with_concepts=0.5, words_f1=0.52, concepts_f1=0.386,
                       combined_f1=0.54, min_gain=0.01)
    assert weak.gain > weak.min_gain and not weak.describes_labels
    options, training, linker = none.recommendation.apply(TrainingConfig(), LinkerConfig())
    assert options == {"fusion": "kar", "knowledge_gate": True} and linker.generic_zipf == 5.0


def test_bad_input_is_named(tiny_graph, tmp_path):
    linker = EntityLinker(tiny_graph)
    one_label = write_csv(tmp_path / "one.csv", [("heart disease", "a")] * 10)
    with pytest.raises(DataError, match="one.csv.*two labels"):
        probe_concepts(one_label, linker)
    few = write_csv(tmp_path / "few.csv", [("heart disease", "a"), ("seizure", "b")])
    with pytest.raises(DataError, match="few.csv.*folds"):
        probe_concepts(few, linker, folds=5)


def test_cli_prints_scores_and_the_recommended_options(tiny_ttl, tmp_path):
    data = write_csv(tmp_path / "t.csv", _rows(lambda cardiac, age: age, n=40))
    out = CliRunner().invoke(app, ["probe", "-o", str(tiny_ttl), "--train", str(data), "--folds", "4"])
    assert out.exit_code == 0, out.output
    assert "words + lifted concepts" in out.output and "recommended: --fusion kar --gate" in out.output
    out = CliRunner().invoke(app, ["probe", "-o", str(tiny_ttl), "--train", str(data), "--folds", "4", "--json"])
    assert out.exit_code == 0, out.output
    parsed = json.loads(out.output[out.output.index("{"):])
    assert parsed["examples"] == 40 and parsed["describes_labels"] is False
