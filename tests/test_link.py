"""kgenhance.link: normalisation, longest match, ambiguity, case, exclusions, alignment."""

from __future__ import annotations

import pytest

from kgenhance.errors import KGEnhanceError
from kgenhance.graph import Entity, KnowledgeGraph, Synonym
from kgenhance.link import EntityLinker, align_mentions, normalize_term, tokenize

from conftest import MED


@pytest.fixture(scope="module")
def linker(tiny_graph):
    return EntityLinker.from_graph(tiny_graph)


def spans(mentions):
    return [(m.surface, m.label) for m in mentions]


def test_links_labels_and_synonyms_with_offsets(linker):
    text = "The patient had seizures and atrial fibrillation."
    ms = linker.link(text)
    assert spans(ms) == [("patient", "patient"), ("seizures", "seizure"), ("atrial fibrillation", "atrial fibrillation")]
    for m in ms:
        assert text[m.start:m.end] == m.surface
    assert ms[2].entity == MED + "AtrialFibrillation"
    assert ms[2].score == 1.0


@pytest.mark.parametrize("text", ["ATRIAL FIBRILLATION", "atrial-fibrillation", "Atrial\n  fibrillation", "atrial fibrillation,"])
def test_case_whitespace_punctuation_normalised(linker, text):
    assert [m.entity for m in linker.link(text)] == [MED + "AtrialFibrillation"]


def test_unicode_nfkc():
    assert normalize_term("ＡＦ－ｔｅｓｔ") == normalize_term("af test")


def test_longest_match_wins_and_overlapping_keeps_nested(tiny_graph, linker):
    text = "signs of heart disease"
    assert spans(linker.link(text)) == [("heart disease", "heart disease")]
    nested = EntityLinker.from_graph(tiny_graph, overlapping=True)
    assert spans(nested.link(text)) == [("heart disease", "heart disease"), ("heart", "heart"), ("disease", "disease")]


def test_no_match_inside_words(linker):
    assert linker.link("heartbeat and diseasefree patientsxx") == []


def test_short_names_need_their_case(linker):
    assert spans(linker.link("new AF episode")) == [("AF", "atrial fibrillation")]
    assert linker.link("af") == []


def test_ambiguity_ranks_label_above_synonym():
    ents = [
        Entity("http://e.org/a", "cold", [Synonym("common cold", "exact")]),
        Entity("http://e.org/b", "low temperature", [Synonym("cold", "related")]),
    ]
    g = KnowledgeGraph(ents, [], [])
    m = EntityLinker.from_graph(g).link("a cold")[0]
    assert [c.entity for c in m.candidates] == ["http://e.org/a", "http://e.org/b"]
    assert m.candidates[0].score > m.candidates[1].score
    assert abs(sum(c.score for c in m.candidates) - 1.0) < 1e-6
    assert m.score == m.candidates[0].score


def test_stopword_only_names_never_linked():
    g = KnowledgeGraph([Entity("http://e.org/all", "All"), Entity("http://e.org/x", "xylophone")], [], [])
    linker = EntityLinker.from_graph(g)
    assert spans(linker.link("All of it was a xylophone")) == [("xylophone", "xylophone")]


def test_exclude_branches(tiny_graph):
    linker = EntityLinker.from_graph(tiny_graph, exclude_branches=(MED + "HeartDisease",))
    labels = [m.label for m in linker.link("arrhythmia and atrial fibrillation and seizures")]
    assert labels == ["seizure"]
    with pytest.raises(KGEnhanceError, match="not an entity"):
        EntityLinker.from_graph(tiny_graph, exclude_branches=("http://e.org/nope",))


def test_min_score_and_properties_not_linked(tiny_graph):
    linker = EntityLinker.from_graph(tiny_graph)
    assert linker.link("this affects the heart")[0].label == "heart"  # 'affects' is a property
    strict = EntityLinker.from_graph(tiny_graph, min_score=1.01)
    assert strict.link("heart") == []


def test_empty_and_whitespace_texts(linker):
    assert linker.link("") == []
    assert linker.link("   \n\t ") == []


def test_graph_without_names_is_an_error():
    with pytest.raises(KGEnhanceError, match="no linkable names"):
        EntityLinker.from_graph(KnowledgeGraph([Entity("http://e.org/a")], [], []))


def test_tokenize_offsets():
    tt = tokenize("Crohn's  disease")
    assert tt.tokens == ["crohn", "disease"]  # the possessive 's is dropped
    assert (tt.starts, tt.ends) == ([0, 9], [5, 16])


def test_align_to_word_pieces(tiny_backbone, linker):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_backbone))
    text = "the patient had atrial fibrillation"
    enc = tok(text, return_offsets_mapping=True)
    ms = linker.link(text)
    aligned = align_mentions(ms, enc["offset_mapping"])
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    first, last = aligned[1]
    assert pieces[first:last + 1] == ["atrial", "fibrillation"]
    truncated = tok(text, return_offsets_mapping=True, truncation=True, max_length=4)
    assert align_mentions(ms, truncated["offset_mapping"])[1] is None
