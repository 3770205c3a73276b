"""Shared fixtures: a small Turtle ontology, a tiny random BERT, tiny labelled data."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MED = "http://example.org/med#"

TINY_TTL = """\
@prefix : <http://example.org/med#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

<http://example.org/med> a owl:Ontology ;
    owl:imports <http://example.org/remote-ontology> .

:Disease a owl:Class ;
    rdfs:label "disease"@en , "maladie"@fr ;
    skos:definition "A disorder of structure or function."@en .
:HeartDisease a owl:Class ;
    rdfs:label "heart disease"@en ;
    skos:altLabel "cardiac disease" ;
    rdfs:subClassOf :Disease .
:Arrhythmia a owl:Class ;
    rdfs:label "arrhythmia" ;
    rdfs:subClassOf :HeartDisease .
:AtrialFibrillation a owl:Class ;
    rdfs:label "atrial fibrillation" ;
    skos:altLabel "AF" ;
    rdfs:subClassOf :Arrhythmia ,
        [ a owl:Restriction ; owl:onProperty :affects ; owl:someValuesFrom :Heart ] .
:NervousDisease a owl:Class ;
    rdfs:label "nervous system disease" ;
    rdfs:subClassOf :Disease .
:Seizure a owl:Class ;
    rdfs:label "seizure" ;
    skos:altLabel "seizures" , "convulsion" ;
    rdfs:subClassOf :NervousDisease .
:Heart a owl:Class ;
    rdfs:label "heart" .
:Patient a owl:Class ;
    rdfs:label "patient" .
:affects a owl:ObjectProperty ;
    rdfs:label "affects" ;
    rdfs:domain :Disease .
:hasCondition a owl:ObjectProperty ;
    rdfs:label "has condition" .
:patient42 a owl:NamedIndividual , :Patient ;
    rdfs:label "patient 42" ;
    :hasCondition :AtrialFibrillation .
:OldTerm a owl:Class ;
    rdfs:label "old term" ;
    owl:deprecated true .
"""

# Words the tiny tokenizer knows; everything else becomes [UNK].
VOCAB = """[PAD] [UNK] [CLS] [SEP] [MASK] . , the a patient had has with and of in after no normal
heart disease cardiac arrhythmia atrial fibrillation af seizure seizures convulsion convulsions nervous
system was were treated shows showed findings child adult recurrent episodes severe mild history
brain scan rhythm irregular ecg eeg therapy ##s ##ing ##ed""".split()

CARDIO = [
    "the patient had atrial fibrillation",
    "atrial fibrillation with irregular rhythm",
    "cardiac disease was treated",
    "heart disease and arrhythmia",
    "the ecg showed arrhythmia",
    "severe heart disease in the adult",
    "recurrent atrial fibrillation after therapy",
    "a history of cardiac disease",
]
NEURO = [
    "the child had seizures",
    "recurrent seizure episodes",
    "convulsion and nervous system disease",
    "the eeg showed seizures",
    "a history of seizures in the child",
    "nervous system disease was treated",
    "severe convulsion after therapy",
    "mild seizure with no findings",
]


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Graph cache under a temporary directory, never the user's."""
    os.environ["KGENHANCE_CACHE"] = str(tmp_path_factory.mktemp("kgcache"))
    yield


@pytest.fixture
def tiny_ttl(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.ttl"
    path.write_text(TINY_TTL, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_ttl_session(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onto") / "tiny.ttl"
    path.write_text(TINY_TTL, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_graph(tiny_ttl_session):
    from kgenhance.graph import load_graph

    return load_graph(tiny_ttl_session, cache=False)


def make_tiny_backbone(directory: Path, model_type: str = "bert") -> Path:
    """Save a randomly initialised tiny encoder and a word-level tokenizer to `directory`."""
    import torch
    from transformers import AutoConfig, AutoModel, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True)
    common = dict(vocab_size=len(VOCAB), max_position_embeddings=64, pad_token_id=0)
    if model_type == "distilbert":
        config = AutoConfig.for_model("distilbert", dim=32, n_layers=2, n_heads=2, hidden_dim=64, **common)
    elif model_type == "modernbert":
        config = AutoConfig.for_model(
            "modernbert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            global_attn_every_n_layers=1, local_attention=16, bos_token_id=2, eos_token_id=3, cls_token_id=2,
            sep_token_id=3, **common,
        )
    elif model_type == "deberta-v2":
        config = AutoConfig.for_model(
            "deberta-v2", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            type_vocab_size=0, **common,
        )
    else:
        config = AutoConfig.for_model(
            model_type, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
            type_vocab_size=2, **common,
        )
    torch.manual_seed(0)
    model = AutoModel.from_config(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def tiny_knowledge_model(graph, backbone: Path, labels=("cardio", "neuro"), **options):
    """A knowledge-aware classifier on the tiny backbone: seeded random 8-d entity embeddings,
    a 16-wide knowledge layer, the graph's linker attached; `options` go to `from_backbone`."""
    import torch

    from kgenhance.encode import EntityEmbeddings
    from kgenhance.link import EntityLinker
    from kgenhance.model import KnowledgeAwareClassifier

    emb = EntityEmbeddings(torch.randn(len(graph), 8, generator=torch.Generator().manual_seed(0)),
                           graph.content_hash)
    torch.manual_seed(0)
    model = KnowledgeAwareClassifier.from_backbone(str(backbone), list(labels), emb, graph=graph,
                                                   knowledge_dim=16, **options)
    return model.attach(linker=EntityLinker(graph))


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> Path:
    return make_tiny_backbone(tmp_path_factory.mktemp("tiny-bert"))


def write_csv(path: Path, rows: list[tuple[str, str]], header=("text", "label")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> tuple[Path, Path]:
    """Train and validation CSVs: cardiology vs neurology sentences (the same 16 in both)."""
    d = tmp_path_factory.mktemp("data")
    rows = [(t, "cardio") for t in CARDIO] + [(t, "neuro") for t in NEURO]
    return write_csv(d / "train.csv", rows), write_csv(d / "validation.csv", rows)
