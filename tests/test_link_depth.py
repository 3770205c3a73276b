"""kgenhance.link at depth: every normalisation rule, lemmas, abbreviations, fuzzy candidates,
context re-ranking, reports, batches, the lexicon cache, aliases and bad input."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from kgenhance.errors import DataError, KGEnhanceError
from kgenhance.graph import Entity, KnowledgeGraph, Synonym
from kgenhance.link import (
    EntityLinker,
    add_aliases,
    find_abbreviations,
    lemma_term,
    normalize_term,
    read_aliases,
)
from kgenhance.link.lexicon import Lexicon

from conftest import MED


@pytest.fixture(scope="module")
def linker(tiny_graph):
    return EntityLinker.from_graph(tiny_graph)


def spans(mentions):
    return [(m.surface, m.label) for m in mentions]


# ---------------------------------------------------------------- normalisation rules
@pytest.mark.parametrize(
    "variant, canonical",
    [
        ("ATRIAL FIBRILLATION", "atrial fibrillation"),  # case folding
        ("Straße", "STRASSE"),  # full Unicode case folding
        ("ＡＦ", "af"),  # NFKC: full-width letters
        ("ﬁbrosis", "fibrosis"),  # NFKC: ligature
        ("atrial-fibrillation", "atrial fibrillation"),  # hyphen
        ("atrial\u2011fibrillation", "atrial fibrillation"),  # non-breaking hyphen
        ("atrial\u2013fibrillation", "atrial fibrillation"),  # en dash
        ("atrial/fibrillation", "atrial fibrillation"),  # slash
        ("atrial,  fibrillation.", "atrial fibrillation"),  # punctuation and spaces
        ("Crohn's disease", "Crohn disease"),  # possessive
        ("Crohn\u2019s disease", "Crohn disease"),  # typographic apostrophe
        ("haemorrhage", "hemorrhage"),
        ("anaemia", "anemia"),
        ("leukaemia", "leukemia"),
        ("oesophageal", "esophageal"),
        ("oedema", "edema"),
        ("oestrogen", "estrogen"),
        ("coeliac", "celiac"),
        ("foetal", "fetal"),
        ("diarrhoea", "diarrhea"),
        ("paediatric", "pediatric"),
        ("orthopaedic", "orthopedic"),
        ("anaesthesia", "anesthesia"),
        ("gynaecological", "gynecological"),
        ("tumour", "tumor"),
        ("behaviour", "behavior"),
        ("hospitalisation", "hospitalization"),
        ("generalised", "generalized"),
        ("centre", "center"),
    ],
)
def test_normalisation_rule(variant, canonical):
    assert normalize_term(variant) == normalize_term(canonical)


@pytest.mark.parametrize("word", ["four", "hours", "pour", "genre", "disease", "exercise", "hoe"])
def test_spelling_rules_leave_other_words_alone(word):
    assert normalize_term(word) == f" {word} "


@pytest.mark.parametrize(
    "inflected, base",
    [("seizures", "seizure"), ("kidneys", "kidney"), ("convulsions", "convulsion"), ("tumours", "tumor"),
     ("Renal Cysts", "renal cyst")],
)
def test_lemmas_make_plurals_match(inflected, base):
    assert lemma_term(inflected) == lemma_term(base)
    assert normalize_term(inflected) != normalize_term(base)


def test_inflected_mention_is_a_lemma_match(linker):
    (m,) = linker.link("repeated convulsions")
    assert (m.surface, m.label, m.match) == ("convulsions", "seizure", "lemma")
    assert m.score == pytest.approx(linker.config.lemma_quality)
    (exact,) = linker.link("one convulsion")
    assert exact.match == "exact" and exact.score == 1.0


def test_lemmatize_off_only_matches_exact_names(tiny_graph):
    plain = EntityLinker.from_graph(tiny_graph, lemmatize=False)
    assert plain.link("repeated convulsions") == []


def test_stopword_only_spans_rejected():
    g = KnowledgeGraph([Entity("http://e.org/a", "The Other"), Entity("http://e.org/b", "other things")], [], [])
    assert spans(EntityLinker.from_graph(g).link("the other other things")) == [("other things", "other things")]


# ---------------------------------------------------------------- abbreviations
def test_schwartz_hearst_definitions():
    text = "Patients with atrial fibrillation (AF) and heart rate (HR; bpm) fell. The drug (aspirin) helped."
    found = [(a.short, a.long) for a in find_abbreviations(text)]
    assert found == [("AF", "atrial fibrillation"), ("HR", "heart rate")]


def test_in_text_abbreviation_links_to_long_form_entity(linker):
    text = "A nervous system disease (NSD) was found. NSD recurred; NSDs are rare."
    ms = linker.link(text)
    abbrevs = [m for m in ms if m.match == "abbreviation"]
    assert [m.surface for m in abbrevs] == ["NSD", "NSD", "NSDs"]
    assert {m.entity for m in abbrevs} == {MED + "NervousDisease"}
    assert all(text[m.start:m.end] == m.surface for m in abbrevs)


def test_local_definition_overrides_ontology_abbreviation(linker):
    # "AF" is the ontology's abbreviation of atrial fibrillation, but this text defines it otherwise
    ms = linker.link("Amniotic fluid (AF) volume was low. AF was drained.")
    assert all(m.entity != MED + "AtrialFibrillation" for m in ms)
    assert spans(linker.link("Known AF.")) == [("AF", "atrial fibrillation")]


def test_abbreviations_can_be_switched_off(tiny_graph):
    off = EntityLinker.from_graph(tiny_graph, abbreviations=False)
    assert "NSD" not in [m.surface for m in off.link("nervous system disease (NSD). NSD again")]


# ---------------------------------------------------------------- overlaps
def test_overlapping_keeps_nested_mentions(tiny_graph, linker):
    text = "a history of nervous system disease"
    assert spans(linker.link(text)) == [("nervous system disease", "nervous system disease")]
    nested = EntityLinker.from_graph(tiny_graph, overlapping=True)
    assert spans(nested.link(text)) == [("nervous system disease", "nervous system disease"), ("disease", "disease")]


# ---------------------------------------------------------------- fuzzy candidates
def test_fuzzy_links_misspellings_only_when_asked(tiny_graph, linker):
    text = "he had atrial fibrilation today"
    assert linker.link(text) == []
    fuzzy = EntityLinker.from_graph(tiny_graph, fuzzy=True)
    (m,) = fuzzy.link(text)
    assert (m.surface, m.label, m.match) == ("atrial fibrilation", "atrial fibrillation", "fuzzy")
    assert 0.8 <= m.score < 1.0
    strict = EntityLinker.from_graph(tiny_graph, fuzzy=True, fuzzy_threshold=0.99)
    assert strict.link(text) == []


def test_fuzzy_span_and_name_word_counts(tiny_graph):
    fuzzy = EntityLinker.from_graph(tiny_graph, fuzzy=True, fuzzy_threshold=0.5)
    assert fuzzy.link("a fibrilation") == []  # one word never stands for the two-word name
    wider = EntityLinker.from_graph(tiny_graph, fuzzy=True, fuzzy_threshold=0.5, fuzzy_extra_tokens=1)
    assert [m.label for m in wider.link("a fibrilation")] == ["atrial fibrillation"]


def test_fuzzy_query_vectors_equal_the_vectorizers(tiny_graph):
    """The fast word-by-word vectors are exactly scikit-learn's TF-IDF transform."""
    index = EntityLinker.from_graph(tiny_graph, fuzzy=True).fuzzy_index
    queries = ["atrial fibrilation", "seizure seizure", "", "x", "qqqq zzzz", "heart disease of the heart"]
    for _ in range(2):  # the second pass reads the memoised words
        np.testing.assert_array_equal(index._vectors(queries).toarray(), index.vectorizer.transform(queries).toarray())


def test_candidates_top_k_with_scores(linker):
    cands = linker.candidates("atrial fibrilation", k=3)
    assert cands and cands[0].entity == MED + "AtrialFibrillation"
    assert len(cands) <= 3
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert linker.candidates("Seizures")[0].label == "seizure"
    assert linker.candidates("") == []


# ---------------------------------------------------------------- context disambiguation
@pytest.fixture(scope="module")
def ambiguous_graph():
    # words the tiny test tokenizer knows, so that its (random) embeddings can tell them apart
    ents = [
        Entity("http://e.org/cardiac", "episode", definition="irregular heart rhythm, arrhythmia"),
        Entity("http://e.org/neuro", "fit", [Synonym("episode", "exact")], definition="seizure of the brain, eeg"),
    ]
    return KnowledgeGraph(ents, [], [])


def test_context_reranks_ambiguous_mentions(ambiguous_graph, tiny_backbone):
    plain = EntityLinker.from_graph(ambiguous_graph)
    cardiac = "the ecg showed an episode of irregular heart rhythm"
    neuro = "the eeg showed an episode of seizure in the brain"
    assert plain.link(cardiac)[0].entity == "http://e.org/cardiac"  # label beats synonym
    assert plain.link(neuro)[0].entity == "http://e.org/cardiac"
    ctx = EntityLinker.from_graph(ambiguous_graph, context=True, context_weight=0.9, backbone=str(tiny_backbone))
    (m,) = ctx.link(neuro)
    assert m.entity == "http://e.org/neuro"
    assert abs(sum(c.score for c in m.candidates) - 1.0) < 1e-5
    assert ctx.link(cardiac)[0].entity == "http://e.org/cardiac"
    assert ctx.candidates("episode", context=neuro)[0].entity == "http://e.org/neuro"


# ---------------------------------------------------------------- report and batches
def test_report(linker):
    texts = ["seizures and atrial fibrillation", "no entity here at all", "renal colic pain, renal colic pain", ""]
    rep = linker.report(texts)
    assert rep.texts == 4
    assert rep.coverage == pytest.approx(0.25)
    assert rep.mentions == 2 and rep.mentions_per_text == pytest.approx(0.5)
    assert rep.ambiguity_rate == 0.0
    assert rep.match_kinds == {"exact": 2}
    assert rep.unlinked_phrases[0] == ("renal colic pain", 2)
    assert "coverage" in rep.format()
    json.dumps(rep.to_dict())


def test_link_batch_parallel_equals_sequential(linker):
    texts = [f"case {i}: seizures and atrial fibrillation (AF), then AF" for i in range(300)]
    assert linker.link_batch(texts, n_process=2, chunksize=50) == [linker.link(t) for t in texts]
    with pytest.raises(KGEnhanceError):
        linker.link_batch(texts, n_process=0)


# ---------------------------------------------------------------- lexicon cache
def test_lexicon_cache_round_trip(tiny_graph, tmp_path):
    built = Lexicon(tiny_graph, cache_dir=tmp_path)
    assert (tmp_path / built.digest / "tables.npz").is_file()
    cached = Lexicon(tiny_graph, cache_dir=tmp_path)
    assert list(cached.entries) == list(built.entries)
    assert all(cached.entries[k] == built.entries[k] for k in built.entries)
    assert all(cached.lemma_entries[k] == built.lemma_entries[k] for k in built.lemma_entries)
    (tmp_path / built.digest / "names.json").write_text("{not json")
    rebuilt = Lexicon(tiny_graph, cache_dir=tmp_path)  # a corrupt cache is rebuilt, not fatal
    assert list(rebuilt.entries) == list(built.entries)


def test_lexicon_cache_follows_the_names(tiny_graph, tmp_path):
    a = Lexicon(tiny_graph, cache_dir=tmp_path)
    b = Lexicon(add_aliases(tiny_graph, [("irregular heartbeat", MED + "Arrhythmia")]), cache_dir=tmp_path)
    assert a.digest != b.digest
    assert " irregular heartbeat " in b.entries and " irregular heartbeat " not in a.entries


# ---------------------------------------------------------------- aliases
def test_aliases(tiny_graph, tmp_path):
    tsv = tmp_path / "aliases.tsv"
    tsv.write_text("# name\tIRI\nirregular heartbeat\t" + MED + "Arrhythmia\n\n")
    g = add_aliases(tiny_graph, read_aliases(tsv))
    assert g.content_hash == tiny_graph.content_hash
    assert spans(EntityLinker.from_graph(g).link("an irregular heartbeat")) == [("irregular heartbeat", "arrhythmia")]
    assert EntityLinker.from_graph(tiny_graph).link("an irregular heartbeat") == []
    tsv.write_text("ok\t" + MED + "Arrhythmia\nbroken line without tab\n")
    with pytest.raises(DataError, match=r"aliases.tsv:2"):
        read_aliases(tsv)
    with pytest.raises(DataError, match="not an entity"):
        add_aliases(tiny_graph, [("x", "http://nowhere.org/x")])


# ---------------------------------------------------------------- bad input
def test_empty_text(linker):
    assert linker.link("") == [] and linker.link(b"") == []
    assert linker.report([]).coverage == 0.0


def test_one_megabyte_text(linker):
    unit = "The patient had seizures and atrial fibrillation (AF); AF recurred. "
    text = unit * (1_000_000 // len(unit) + 1)
    assert len(text) >= 1_000_000
    t0 = time.perf_counter()
    ms = linker.link(text)
    assert time.perf_counter() - t0 < 30
    n = text.count(unit)
    assert len(ms) == 5 * n  # patient, seizures, atrial fibrillation, AF, AF
    assert all(text[m.start:m.end] == m.surface for m in ms)


def test_utf8_bytes_accepted_and_invalid_bytes_rejected(linker):
    assert spans(linker.link("seizures".encode())) == [("seizures", "seizure")]
    with pytest.raises(DataError, match="not valid UTF-8"):
        linker.link(b"seizures \xff\xfe and more")
    with pytest.raises(DataError, match="expected text"):
        linker.link(42)


def test_ontology_without_labels_is_a_clear_error():
    g = KnowledgeGraph([Entity("http://e.org/a"), Entity("http://e.org/b")], [], [])
    with pytest.raises(KGEnhanceError, match="no linkable names"):
        EntityLinker.from_graph(g)


def test_bad_settings_are_named(tiny_graph):
    with pytest.raises(KGEnhanceError, match="fuzzy_threshold"):
        EntityLinker.from_graph(tiny_graph, fuzzy_threshold=1.5)
    with pytest.raises(KGEnhanceError, match="unknown linker setting"):
        EntityLinker.from_graph(tiny_graph, fuzy=True)


def test_prefer_namespaces_when_ontologies_share_names():
    ents = [
        Entity("http://a.org/Seizure", "seizure"),
        Entity("http://b.org/Seizures", "seizures", [Synonym("fits", "exact")]),
    ]
    g = KnowledgeGraph(ents, [], [])
    assert EntityLinker.from_graph(g).link("seizures")[0].entity == "http://b.org/Seizures"  # exact name
    preferring_a = EntityLinker.from_graph(g, prefer_namespaces=("http://a.org/",))
    (m,) = preferring_a.link("seizures")
    assert m.entity == "http://a.org/Seizure" and m.match == "exact"
    assert [c.entity for c in m.candidates] == ["http://a.org/Seizure", "http://b.org/Seizures"]
    assert abs(sum(c.score for c in m.candidates) - 1.0) < 1e-6
    assert preferring_a.link("fits")[0].entity == "http://b.org/Seizures"  # no competitor: unchanged
    assert preferring_a.candidates("seizures")[0].entity == "http://a.org/Seizure"


def test_case_rule_follows_the_matched_name():
    g = KnowledgeGraph([Entity("http://e.org/pet", "PET"), Entity("http://e.org/fit", "seizure")], [], [])
    linker = EntityLinker.from_graph(add_aliases(g, [("fits", "http://e.org/fit")]))
    assert spans(linker.link("two fits")) == [("fits", "seizure")]  # 4-letter alias, 3-letter lemma
    assert spans(linker.link("PETs and PET")) == [("PETs", "PET"), ("PET", "PET")]
    assert linker.link("our pets and a pet") == []


def test_generic_words_can_be_left_unlinked(tmp_path):
    from kgenhance.errors import ConfigError
    from kgenhance.graph import load_graph
    from kgenhance.link import EntityLinker, LinkerConfig
    from kgenhance.link.normalize import common_word_zipf

    ttl = tmp_path / "fin.ttl"
    ttl.write_text(
        "@prefix : <http://e.org/> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        "@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"
        ':Group a owl:Class ; rdfs:label "group" .\n:Share a owl:Class ; rdfs:label "share" .\n'
        ':ShareClass a owl:Class ; rdfs:label "share class" .\n:Debenture a owl:Class ; rdfs:label "debenture" .\n'
        ':Nominee a owl:Class ; rdfs:label "nominee" .\n'
    )
    graph = load_graph(ttl, cache=False)
    text = "The group said a new share class and a debenture will go to a nominee (GROUP). Shares rose."
    assert common_word_zipf("group") > 5.5 and common_word_zipf("debenture") == 0.0
    every = [m.surface for m in EntityLinker(graph, LinkerConfig(cache=False)).link(text)]
    assert every == ["group", "share class", "debenture", "nominee", "GROUP", "Shares"]
    kept = [m.surface for m in EntityLinker(graph, LinkerConfig(cache=False, generic_zipf=5.0)).link(text)]
    # one-word common names go (also inflected: "Shares"); multi-word names and rare words stay
    assert kept == ["share class", "debenture", "nominee"]
    with pytest.raises(ConfigError, match="generic_zipf"):
        LinkerConfig(generic_zipf=2.0).validate()
