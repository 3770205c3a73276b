"""Property-based tests: random Turtle and random text either work or raise kgenhance's own errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgenhance.errors import KGEnhanceError
from kgenhance.graph import KnowledgeGraph, load_graph

TTL_PIECES = st.sampled_from([
    "@prefix : <http://e.org/> .", "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .",
    "@prefix owl: <http://www.w3.org/2002/07/owl#> .", ":a", ":b", "rdfs:label", "rdfs:subClassOf", "a",
    "owl:Class", '"atrial fibrillation"', '"x"@en', ";", ",", ".", "[", "]", "(", ")", "<http://e.org/c>", "_:b1",
    '"""multi\nline"""', "owl:Restriction", "owl:onProperty", "owl:someValuesFrom", "\n", "#comment\n",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(TTL_PIECES, max_size=40), noise=st.text(max_size=20))
def test_random_turtle_loads_or_raises_our_error(pieces, noise):
    content = " ".join(pieces) + noise
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "random.ttl"
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
        try:
            g = load_graph(path, cache=False)
        except KGEnhanceError as exc:
            assert str(path) in str(exc) or "no ontology" in str(exc)
        else:
            assert isinstance(g, KnowledgeGraph) and any(e.label for e in g.entities)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_random_text_links_with_valid_offsets(tiny_graph, text):
    from kgenhance.link import EntityLinker

    linker = _linker(tiny_graph)
    for m in linker.link(text):
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start:m.end] == m.surface
        assert 0.0 < m.score <= 1.0
    assert isinstance(linker, EntityLinker)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=200))
def test_random_bytes_link_or_raise_data_error(tiny_graph, data):
    linker = _linker(tiny_graph)
    try:
        mentions = linker.link(data)
    except KGEnhanceError as exc:
        assert "UTF-8" in str(exc)
    else:
        text = data.decode("utf-8")
        assert all(text[m.start:m.end] == m.surface for m in mentions)


_LINKERS: dict[int, object] = {}


def _linker(graph):
    from kgenhance.link import EntityLinker

    if id(graph) not in _LINKERS:
        _LINKERS[id(graph)] = EntityLinker.from_graph(graph, fuzzy=True)
    return _LINKERS[id(graph)]
