"""The encoder registry (R-GCN, CompGCN, relational SAGE), decoders, neighbour sampling, the
leak-free edge split, and multi-process training — each on graphs small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgenhance.encode import (
    ENCODERS,
    CompositionConv,
    DistMultDecoder,
    EncoderConfig,
    MessageGraph,
    NeighbourSampler,
    RelationalSAGEConv,
    RotatEDecoder,
    train_entity_encoder,
)
from kgenhance.encode.compgcn import compose
from kgenhance.encode.sampling import local_ids
from kgenhance.encode.train import choose_sampling, split_edges
from kgenhance.errors import ConfigError
from kgenhance.graph import Entity, KnowledgeGraph


def cluster_graph(n: int = 40) -> KnowledgeGraph:
    """4 clusters of 10 nodes, each node linked to 5 others of its cluster (easy to predict)."""
    ents = [Entity(f"http://e.org/{i:02d}", f"node {i}") for i in range(n)]
    edges = {(i, 0, (i // 10) * 10 + (i + k) % 10) for i in range(n) for k in (1, 2, 3, 4, 5)}
    return KnowledgeGraph(ents, ["http://e.org/near"], np.array(sorted(edges)))


def small_message_graph() -> tuple[MessageGraph, torch.Tensor]:
    triples = torch.tensor([[0, 0, 1], [1, 1, 2], [2, 0, 3], [3, 1, 0], [4, 0, 1]])
    return MessageGraph.from_triples(triples, 5, 2), triples


# ------------------------------------------------------------------------ layers


@pytest.mark.parametrize("op", ["sub", "mult", "corr"])
def test_compgcn_conv_matches_a_loop_over_edges(op):
    torch.manual_seed(0)
    graph, _ = small_message_graph()
    conv = CompositionConv(6, op)
    x, rel = torch.randn(5, 6), torch.randn(4, 6)
    out, rel_out = conv(x, rel, graph)
    deg = torch.bincount(graph.edge_index[1], minlength=5).float()
    ref = conv.w_self(compose(x, conv.self_loop.expand_as(x), op)).clone()
    for e in range(graph.edge_index.shape[1]):
        j, i, r = (int(v) for v in (graph.edge_index[0, e], graph.edge_index[1, e], graph.edge_type[e]))
        w = conv.w_forward if r < 2 else conv.w_inverse  # types 2, 3 are the inverse directions
        ref[i] += w(compose(x[j : j + 1], rel[r : r + 1], op))[0] / torch.sqrt(deg[i] * deg[j])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rel_out, conv.w_relation(rel))


def test_circular_correlation_by_definition():
    a, b = torch.randn(1, 5), torch.randn(1, 5)
    ref = torch.tensor([[sum(float(a[0, i]) * float(b[0, (i + k) % 5]) for i in range(5)) for k in range(5)]])
    torch.testing.assert_close(compose(a, b, "corr"), ref, rtol=1e-5, atol=1e-5)


def test_sage_conv_is_a_mean_of_neighbour_plus_relation():
    torch.manual_seed(0)
    triples = torch.tensor([[0, 0, 1], [1, 1, 2], [2, 0, 3], [3, 1, 0], [4, 0, 1], [4, 0, 1]])  # a repeated edge
    graph = MessageGraph.from_triples(triples, 6, 2)  # node 5 has no edges
    conv = RelationalSAGEConv(3, 4)
    with torch.no_grad():
        conv.relation.normal_()
    x = torch.randn(6, 3, requires_grad=True)
    ref = conv.w_self(x).clone()
    for i in range(6):
        into = (graph.edge_index[1] == i).nonzero().flatten()
        if len(into):
            msgs = torch.stack([x[graph.edge_index[0, e]] + conv.relation[graph.edge_type[e]] for e in into])
            ref[i] = ref[i] + conv.w_neighbours(msgs.mean(0))
    out = conv(x, graph)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    out.sum().backward()  # gradients reach the entity states and the relation vectors
    assert x.grad is not None and conv.relation.grad is not None and conv.relation.grad.abs().sum() > 0


# ---------------------------------------------------------------------- decoders


def test_rotate_scores_by_hand_and_is_asymmetric():
    dec = RotatEDecoder(1, 2)
    with torch.no_grad():
        dec.phase.fill_(torch.pi / 2)  # multiply by i
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # 1 and i as (re, im)
    # 1 · i = i: (0 -r-> 1) is perfect, (1 -r-> 0) is not (i · i = -1, distance 2 from 1)
    scores = dec(z, torch.tensor([[0, 0, 1], [1, 0, 0]]))
    torch.testing.assert_close(scores, torch.tensor([0.0, -2.0]))
    # predicting a head rotates the tail backwards: every view of the same triple agrees
    with torch.no_grad():
        tails = dec.score_tails(z, torch.tensor([0]), torch.tensor([0]))
        heads = dec.score_heads(z, torch.tensor([0]), torch.tensor([1]))
    assert float(tails[0, 1]) == pytest.approx(0.0, abs=1e-6) and float(heads[0, 0]) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="even"):
        RotatEDecoder(1, 3)


@pytest.mark.parametrize("cls", [DistMultDecoder, RotatEDecoder])
def test_decoder_views_agree(cls):
    torch.manual_seed(1)
    dec = cls(3, 8)
    z = torch.randn(6, 8)
    triples = torch.tensor([[0, 1, 4], [2, 0, 5], [3, 2, 1]])
    pair = dec(z, triples)
    tails = dec.score_tails(z, triples[:, 0], triples[:, 1])
    heads = dec.score_heads(z, triples[:, 1], triples[:, 2])
    torch.testing.assert_close(tails[torch.arange(3), triples[:, 2]], pair, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(heads[torch.arange(3), triples[:, 0]], pair, rtol=1e-4, atol=1e-4)
    loss = dec.ranking_loss(z.requires_grad_(), triples, torch.tensor([1, 2, 3]))
    loss.backward()
    assert loss.item() > 0 and z.grad is not None and z.grad.abs().sum() > 0


# ------------------------------------------------------------- training, every encoder


@pytest.mark.parametrize("encoder,decoder", [("rgcn", "distmult"), ("compgcn", "distmult"),
                                             ("sage", "distmult"), ("rgcn", "rotate")])
def test_every_encoder_learns_structure(encoder, decoder):
    cfg = EncoderConfig(encoder=encoder, decoder=decoder, dim=32, epochs=80, eval_every=10, patience=20,
                        negatives=32, validation_fraction=0.1, learning_rate=0.02, seed=0, device="cpu")
    emb = train_entity_encoder(cluster_graph(), cfg, progress=False)
    assert emb.metrics["hits@10"] > 0.6  # random ranking gives about 0.25
    assert emb.config["encoder"] == encoder and emb.config["decoder"] == decoder
    assert emb.metrics["sampling"] == "full" and not emb.metrics["sparse_id_gradients"]


def test_every_encoder_is_registered_with_its_config():
    for name, cls in ENCODERS.items():
        cfg = EncoderConfig(encoder=name, device="cpu")
        from kgenhance.encode.registry import encoder_config

        own = encoder_config(name, cfg, features_dim=0)
        assert isinstance(own, cls.config_class) and own.dim == cfg.dim
        assert cls.message_floats(own) > 0


def test_encoder_config_errors():
    for bad, match in (({"encoder": "gat"}, "unknown encoder"), ({"decoder": "transe"}, "unknown decoder"),
                       ({"decoder": "rotate", "dim": 33}, "even"), ({"sampling": "some"}, "sampling"),
                       ({"fanouts": ()}, "fanouts"), ({"composition": "add"}, "composition")):
        with pytest.raises(ConfigError, match=match):
            EncoderConfig(**bad).validate()


# ------------------------------------------------------------------- the edge split


def test_split_never_leaks_inverse_or_parallel_facts():
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 50, size=(300, 2))
    forward = np.column_stack([pairs[:, 0], np.zeros(300, int), pairs[:, 1]])
    inverse = np.column_stack([pairs[:, 1], np.ones(300, int), pairs[:, 0]])  # r⁻¹ of every fact
    parallel = forward[:100].copy()
    parallel[:, 1] = 2  # the same pair under a second (super-)property
    edges = np.unique(np.concatenate([forward, inverse, parallel]), axis=0)
    train, val = split_edges(edges, 0.1, 1000, seed=4)
    assert 0 < len(val) <= round(0.1 * len(edges)) and len(train) + len(val) == len(edges)
    train_pairs = {frozenset((h, t)) for h, _, t in train.tolist()}
    assert not any(frozenset((h, t)) in train_pairs for h, _, t in val.tolist())
    # the same seed gives the same split
    np.testing.assert_array_equal(split_edges(edges, 0.1, 1000, seed=4)[1], val)


# ---------------------------------------------------------------- neighbour sampling


def random_message_graph(n: int = 200, e: int = 3000, seed: int = 0) -> MessageGraph:
    g = torch.Generator().manual_seed(seed)
    triples = torch.stack([torch.randint(0, n, (e,), generator=g), torch.randint(0, 3, (e,), generator=g),
                           torch.randint(0, n, (e,), generator=g)], 1)
    return MessageGraph.from_triples(triples, n, 3)


def test_sampler_bounds_fanout_and_keeps_ids():
    graph = random_message_graph()
    sampler = NeighbourSampler(graph, (4, 2), torch.Generator().manual_seed(0))
    seeds = torch.tensor([5, 17, 99])
    sub = sampler.sample(seeds)
    assert sub.nodes is not None and torch.equal(sub.nodes[:3], seeds)
    # every seed keeps at most 4 incoming edges, each one a real edge with its type
    real = {(int(s), int(t), int(r)) for s, t, r in zip(graph.edge_index[0], graph.edge_index[1], graph.edge_type)}
    for k in range(sub.edge_index.shape[1]):
        s, t = sub.nodes[sub.edge_index[:, k]]
        assert (int(s), int(t), int(sub.edge_type[k])) in real
    into_seeds = torch.bincount(sub.edge_index[1], minlength=sub.num_nodes)[:3]
    assert int(into_seeds.max()) <= 4
    assert sub.num_nodes <= 3 * (1 + 4 + 4 * 2)  # bounded by seeds × fanouts, not by the graph
    torch.testing.assert_close(local_ids(sub, torch.tensor([99, 5])), torch.tensor([2, 0]))


def test_sampler_with_large_fanouts_returns_the_whole_neighbourhood():
    graph, _ = small_message_graph()
    sub = NeighbourSampler(graph, (100, 100)).sample(torch.arange(5))
    got = {(int(sub.nodes[s]), int(sub.nodes[t]), int(r)) for s, t, r in zip(*sub.edge_index, sub.edge_type)}
    want = {(int(s), int(t), int(r)) for s, t, r in zip(*graph.edge_index, graph.edge_type)}
    assert got == want


def test_sampled_training_learns_and_is_chosen_when_memory_is_short():
    cfg = EncoderConfig(encoder="sage", dim=32, epochs=60, eval_every=10, patience=20, negatives=32,
                        validation_fraction=0.1, learning_rate=0.02, seed=0, device="cpu", batch_size=64,
                        fanouts=(4, 3), inference_batch=16, memory_budget_gb=1e-9)
    assert choose_sampling(cfg, 400, 40) == "neighbour"
    assert choose_sampling(EncoderConfig(), 400, 40) == "full"
    # many entities alone (2 M × 128 states per layer) are too much for one full-graph step
    assert choose_sampling(EncoderConfig(encoder="sage"), 20_000_000, 2_000_000) == "neighbour"
    assert choose_sampling(EncoderConfig(encoder="sage"), 42_000, 8_800) == "full"  # FIBO-sized
    a = train_entity_encoder(cluster_graph(), cfg, progress=False)
    assert a.metrics["sampling"] == "neighbour"
    assert a.metrics["sparse_id_gradients"]  # only the sampled rows of the id table are updated
    assert a.metrics["hits@10"] > 0.6
    b = train_entity_encoder(cluster_graph(), cfg, progress=False)
    torch.testing.assert_close(a.vectors, b.vectors)  # sampling is seeded: runs repeat
    assert a.metrics["inference"] == "neighbour"
    # a budget between a training step's needs and inference's: sampled steps, whole-graph embedding
    from kgenhance.encode.train import full_graph_bytes

    train_b = full_graph_bytes(cfg, 40, 2 * len(cluster_graph().edges))
    infer_b = full_graph_bytes(cfg, 40, 2 * len(cluster_graph().edges), training=False)
    assert infer_b < train_b
    from dataclasses import replace

    c = train_entity_encoder(cluster_graph(), replace(cfg, memory_budget_gb=(train_b + infer_b) / 2 / 2**30),
                             progress=False)
    assert (c.metrics["sampling"], c.metrics["inference"]) == ("neighbour", "full")
    assert c.metrics["hits@10"] > 0.6


# -------------------------------------------------------------- several processes


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        cfg = EncoderConfig(encoder="compgcn", dim=16, epochs=6, eval_every=3, negatives=16, batch_size=64,
                            validation_fraction=0.1, seed=3, device="cpu")
        emb = train_entity_encoder(cluster_graph(), cfg, progress=False)
        torch.save({"vectors": emb.vectors, "metrics": emb.metrics}, f"{out_dir}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def test_two_gloo_processes_train_one_model(tmp_path):
    torch.multiprocessing.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert a["metrics"]["processes"] == 2
    torch.testing.assert_close(a["vectors"], b["vectors"])  # gradients were averaged: one model
    single = train_entity_encoder(cluster_graph(), EncoderConfig(
        encoder="compgcn", dim=16, epochs=6, eval_every=3, negatives=16, batch_size=64, validation_fraction=0.1,
        seed=3, device="cpu"), progress=False)
    assert not torch.allclose(single.vectors, a["vectors"])  # each process really saw half the batches
    assert a["metrics"]["history"][-1]["loss"] < a["metrics"]["history"][0]["loss"]


# ---------------------------------------------------------------------------- GPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("encoder", list(ENCODERS))
def test_cpu_and_gpu_agree(encoder):
    base = dict(encoder=encoder, dim=32, epochs=20, eval_every=5, negatives=32, validation_fraction=0.1,
                seed=0, mixed_precision=False, dropout=0.0)
    cpu = train_entity_encoder(cluster_graph(), EncoderConfig(**base, device="cpu"), progress=False)
    gpu = train_entity_encoder(cluster_graph(), EncoderConfig(**base, device="cuda"), progress=False)
    assert gpu.metrics["device"].startswith("cuda")
    assert abs(cpu.metrics["mrr"] - gpu.metrics["mrr"]) < 0.05
    cos = torch.nn.functional.cosine_similarity(cpu.vectors, gpu.vectors, dim=1)
    assert float(cos.mean()) > 0.9


def test_encoder_example_under_torchrun(tmp_path, tiny_ttl_session):
    """examples/encoder_distributed.py through torchrun: 2 CPU processes, one set of vectors."""
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KGENHANCE_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "emb"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           str(root / "examples" / "encoder_distributed.py"), "--ontology", str(tiny_ttl_session), "--out", str(out),
           "--encoder", "sage", "--sampling", "neighbour", "--epochs", "3", "--dim", "8", "--batch-size", "8",
           "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["sampling"] == "neighbour"
    assert len({(out / f"vectors-rank{r}.sha256").read_text() for r in (0, 1)}) == 1
    assert (out / "entity_embeddings.safetensors").is_file()


def test_filtered_negatives_leave_known_facts_out_of_the_loss():
    from kgenhance.encode.train import _KnownAnswers

    torch.manual_seed(0)
    z = torch.randn(6, 8)
    dec = RotatEDecoder(2, 8)
    positives = torch.tensor([[0, 1, 2], [3, 0, 4]])
    facts = np.array([[0, 1, 2], [3, 0, 4], [0, 1, 5], [1, 0, 4]])  # 5 is also a tail of (0, 1); 1 a head of (0, 4)
    negatives = torch.tensor([5, 1, 3])
    tails, heads = _KnownAnswers(facts, 2).corruption_masks(positives, negatives, 6)
    assert tails.tolist() == [[True, False, False], [False, False, False]]
    # (1, 0, 4) is a fact; (3, 0, 4) is the positive itself — neither is a negative
    assert heads.tolist() == [[False, False, False], [False, True, True]]
    filtered = dec.ranking_loss(z, positives, negatives, (tails, heads))
    # the same as scoring each side against only its genuine negatives, by hand
    import torch.nn.functional as F

    def side_loss(i, side):
        h, r, t = positives[i]
        known, true = (h, t) if side == "tail" else (t, h)
        mask = (tails if side == "tail" else heads)[i]
        q = dec.query(z[known].unsqueeze(0), r.unsqueeze(0), side)
        scores = torch.cat([dec.match_pairs(q, z[true].unsqueeze(0)), dec.match(q, z[negatives[~mask]])[0]])
        return F.cross_entropy(scores.unsqueeze(0), torch.zeros(1, dtype=torch.long))

    want = 0.5 * sum(sum(side_loss(i, s) for i in range(2)) / 2 for s in ("tail", "head"))
    torch.testing.assert_close(filtered, want)
    assert not torch.isclose(filtered, dec.ranking_loss(z, positives, negatives))
    cfg = EncoderConfig(dim=16, epochs=4, eval_every=2, negatives=16, validation_fraction=0.1, seed=0, device="cpu",
                        filter_negatives=True)
    emb = train_entity_encoder(cluster_graph(), cfg, progress=False)
    assert np.isfinite(emb.metrics["history"][-1]["loss"])
