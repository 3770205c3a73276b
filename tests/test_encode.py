"""kgenhance.encode: the relational convolution, training, ranking metrics, saved embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgenhance.encode import (
    BasisRelationalConv,
    DistMultDecoder,
    EncoderConfig,
    EntityEmbeddings,
    ranking_metrics,
    train_entity_encoder,
)
from kgenhance.encode.conv import relation_normalisation
from kgenhance.encode.train import _KnownAnswers, split_edges
from kgenhance.errors import ConfigError, KGEnhanceError, ModelError
from kgenhance.graph import Entity, KnowledgeGraph


def test_conv_matches_per_relation_reference():
    torch.manual_seed(0)
    n, r, d_in, d_out = 7, 3, 5, 4
    conv = BasisRelationalConv(d_in, d_out, r, num_bases=2)
    x = torch.randn(n, d_in)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 3], [1, 2, 3, 4, 5, 6, 0, 1]])
    edge_type = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0])
    norm = relation_normalisation(edge_index, edge_type, n, r)
    x.requires_grad_(True)
    out = conv(x, edge_index, edge_type, norm)
    # reference: explicit W_r = sum_b a_rb V_b and a loop over edges
    weights = torch.einsum("rb,bio->rio", conv.coefficients, conv.bases)
    ref = conv.root(x).clone()
    for e in range(edge_index.shape[1]):
        j, i, t = int(edge_index[0, e]), int(edge_index[1, e]), int(edge_type[e])
        ref[i] += norm[e] * (x[j] @ weights[t])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    # the same gradients as the explicit computation, for the input and both weight factors
    grads = torch.autograd.grad(out.square().sum(), (x, conv.bases, conv.coefficients))
    ref_grads = torch.autograd.grad(ref.square().sum(), (x, conv.bases, conv.coefficients))
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # node 1 receives two relation-0 edges (0→1 and 3→1): each is weighted 1/2
    assert float(norm[0]) == 0.5 and float(norm[7]) == 0.5 and float(norm[1]) == 1.0


def chain_graph(n: int = 12) -> KnowledgeGraph:
    """A two-relation graph: a 'next' chain and a 'group' edge to one of two hubs."""
    ents = [Entity(f"http://e.org/{i:02d}", f"node {i}") for i in range(n)]
    edges = [(i, 0, i + 1) for i in range(n - 3)] + [(i, 1, n - 2 + i % 2) for i in range(n - 2)]
    return KnowledgeGraph(ents, ["http://e.org/group", "http://e.org/next"][::-1], np.array(edges))


def test_split_edges_is_seeded_and_disjoint():
    edges = np.arange(60).reshape(20, 3)
    a_train, a_val = split_edges(edges, 0.25, 100, seed=3)
    b_train, b_val = split_edges(edges, 0.25, 100, seed=3)
    np.testing.assert_array_equal(a_val, b_val)
    assert len(a_val) == 5 and len(a_train) == 15
    assert not set(map(tuple, a_val.tolist())) & set(map(tuple, a_train.tolist()))


def test_filtered_ranking_metrics_by_hand():
    # 3 entities, 1 relation; z makes entity 2 the best tail for head 0, then 1.
    z = torch.tensor([[1.0, 0.0], [0.5, 0.0], [2.0, 0.0]])
    dec = DistMultDecoder(1, 2)
    with torch.no_grad():
        dec.relation.fill_(1.0)
    queries = np.array([[0, 0, 1]])
    unfiltered = ranking_metrics(z, dec, queries, _KnownAnswers(queries, 1))
    # tail side: scores 1, .5, 2 for tails 0, 1, 2 -> true tail 1 ranks 3rd;
    # head side: (?, r, 1) scores .5, .25, 1 for heads 0, 1, 2 -> true head 0 ranks 2nd
    assert unfiltered["mrr"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    known = np.array([[0, 0, 1], [0, 0, 2], [2, 0, 1]])
    filtered = ranking_metrics(z, dec, queries, _KnownAnswers(known, 1))
    # entity 2 is a known tail of (0, r) and a known head of (r, 1): filtered out both times
    assert filtered["mrr"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert filtered["hits@1"] == pytest.approx(0.5)


def test_train_encoder_is_deterministic_and_saves(tmp_path):
    g = chain_graph()
    cfg = EncoderConfig(dim=16, epochs=6, eval_every=2, negatives=8, validation_fraction=0.2, seed=1, device="cpu")
    a = train_entity_encoder(g, cfg, progress=False)
    b = train_entity_encoder(g, cfg, progress=False)
    assert a.vectors.shape == (len(g), 16)
    torch.testing.assert_close(a.vectors, b.vectors)
    assert a.graph_hash == g.content_hash
    assert 0.0 <= a.metrics["mrr"] <= 1.0 and a.metrics["validation_edges"] == 4
    assert a.metrics["history"][0]["loss"] > a.metrics["history"][-1]["loss"]
    a.save(tmp_path / "emb")
    assert {p.name for p in (tmp_path / "emb").iterdir()} == {
        "entity_embeddings.safetensors", "encoder_config.json", "metrics.json"}
    back = EntityEmbeddings.load(tmp_path / "emb", g)
    torch.testing.assert_close(back.vectors, a.vectors)
    other = KnowledgeGraph(g.entities, g.relations, g.edges[:-1])
    with pytest.raises(ModelError, match="different graph"):
        EntityEmbeddings.load(tmp_path / "emb", other)


def test_encoder_learns_structure():
    """On a graph with an obvious pattern the held-out edges are ranked far above chance."""
    n = 40
    ents = [Entity(f"http://e.org/{i:02d}", f"node {i}") for i in range(n)]
    # 4 clusters of 10 nodes, each node linked to 5 others of its cluster
    edges = {(i, 0, (i // 10) * 10 + (i + k) % 10) for i in range(n) for k in (1, 2, 3, 4, 5)}
    g = KnowledgeGraph(ents, ["http://e.org/near"], np.array(sorted(edges)))
    cfg = EncoderConfig(dim=32, epochs=80, eval_every=10, patience=20, negatives=32, validation_fraction=0.1,
                        learning_rate=0.02, seed=0, device="cpu")
    emb = train_entity_encoder(g, cfg, progress=False)
    assert emb.metrics["hits@10"] > 0.6  # random ranking gives about 0.25
    

def test_encoder_needs_edges():
    g = KnowledgeGraph([Entity("http://e.org/a", "a")], [], np.zeros((0, 3)))
    with pytest.raises(KGEnhanceError, match="no edges"):
        train_entity_encoder(g, EncoderConfig(epochs=1), progress=False)


def test_embedding_file_corrupt(tmp_path):
    (tmp_path / "entity_embeddings.safetensors").write_bytes(b"junk")
    with pytest.raises(ModelError, match="cannot read"):
        EntityEmbeddings.load(tmp_path)


def test_text_features_make_the_encoder_inductive(tiny_backbone, tmp_path, monkeypatch):
    """Names as input, no id vectors: held-out entities are embedded from text and neighbours."""
    from kgenhance.encode.features import entity_text_features

    monkeypatch.setenv("KGENHANCE_CACHE", str(tmp_path / "cache"))
    n = 40
    words = ["heart", "brain", "seizure", "arrhythmia"]  # every cluster's nodes share a word the tokenizer knows
    ents = [Entity(f"http://e.org/{i:02d}", f"{words[i // 10]} {i}") for i in range(n)]
    edges = {(i, 0, (i // 10) * 10 + (i + k) % 10) for i in range(n) for k in (1, 2, 3, 4, 5)}
    g = KnowledgeGraph(ents, ["http://e.org/near"], np.array(sorted(edges)))
    feats = entity_text_features(g, str(tiny_backbone))
    assert feats.shape == (n, 32) and torch.allclose(feats.norm(dim=1), torch.ones(n), atol=1e-5)
    assert len(list((tmp_path / "cache" / "entity-text").iterdir())) == 1
    torch.testing.assert_close(entity_text_features(g, str(tiny_backbone)), feats)  # from the cache
    cfg = EncoderConfig(dim=32, epochs=30, eval_every=10, patience=20, negatives=32, validation_fraction=0.1,
                        learning_rate=0.02, seed=0, device="cpu", text_features="static", id_embeddings=False,
                        backbone=str(tiny_backbone), inductive_fraction=0.2)
    emb = train_entity_encoder(g, cfg, progress=False)
    ind = emb.metrics["inductive"]
    assert ind["entities"] > 0 and ind["queries"] > 0
    assert ind["hits@10"] > 0.4  # random ranking gives about 0.25: names and support edges place new entities
    again = train_entity_encoder(g, cfg, progress=False)
    torch.testing.assert_close(again.vectors, emb.vectors)
    with pytest.raises(ConfigError, match="text_features"):
        EncoderConfig(id_embeddings=False).validate()
