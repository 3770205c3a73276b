"""Self-supervised training of the entity encoder by link prediction."""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..errors import ConfigError, KGEnhanceError
from ..graph.model import KnowledgeGraph
from ..utils import resolve_device, seed_everything
from .embeddings import EntityEmbeddings
from .model import DistMultDecoder, MessageGraph, RelationalGraphEncoder

log = logging.getLogger(__name__)


@dataclass
class EncoderConfig:
    """Settings of `train_entity_encoder`."""

    dim: int = 128
    num_layers: int = 2
    num_bases: int = 8
    dropout: float = 0.1
    epochs: int = 60
    batch_size: int = 8192  # positive edges per optimisation step (each step encodes the whole graph)
    learning_rate: float = 0.01
    negatives: int = 256  # random entities shared by a step's positives as corrupted heads and tails
    l2: float = 1e-6  # penalty on the squared norms of the scored vectors
    validation_fraction: float = 0.05
    max_validation_edges: int = 2000
    eval_every: int = 5  # epochs between validation MRR checks
    patience: int = 4  # validation checks without improvement before stopping
    seed: int = 0
    device: str = "auto"
    text_features: str | None = None  # "static" or "contextual": entity names/definitions as input features
    id_embeddings: bool = True  # learned per-entity input vectors (off + text features = inductive)
    backbone: str | None = None  # encoder of the text features (default: the bundled MiniLM)
    inductive_fraction: float = 0.0  # hold out this share of entities to measure inductive link prediction

    def validate(self) -> None:
        for name in ("dim", "num_layers", "num_bases", "epochs", "batch_size", "negatives", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"encoder {name} must be at least 1, not {getattr(self, name)}")
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ConfigError("validation_fraction must be in [0, 0.5)")
        if self.text_features not in (None, "static", "contextual"):
            raise ConfigError(f"text_features must be 'static', 'contextual' or None, not {self.text_features!r}")
        if not self.id_embeddings and not self.text_features:
            raise ConfigError("without id_embeddings the encoder needs text_features")
        if not 0.0 <= self.inductive_fraction < 0.5:
            raise ConfigError("inductive_fraction must be in [0, 0.5)")


def _inductive_split(edges: np.ndarray, n: int, fraction: float, seed: int):
    """Hold out `fraction` of the entities: every edge touching one leaves training; half of
    those edges (support) are known when the held-out entities are embedded afterwards, the
    other half (query) are predicted. Returns (training edges, support, query, held-out mask)."""
    if fraction <= 0:
        return edges, edges[:0], edges[:0], None
    rng = np.random.default_rng(seed + 7)
    held = rng.random(n) < fraction
    touch = held[edges[:, 0]] | held[edges[:, 2]]
    new = edges[touch]
    order = rng.permutation(len(new))
    half = len(new) // 2
    return edges[~touch], new[np.sort(order[:half])], new[np.sort(order[half:])], held


def split_edges(edges: np.ndarray, fraction: float, max_edges: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a random share of edges for validation (train, validation)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(edges))
    n_val = min(int(round(len(edges) * fraction)), max_edges)
    if len(edges) - n_val < 1:
        n_val = 0
    return edges[np.sort(order[n_val:])], edges[np.sort(order[:n_val])]


class _KnownAnswers:
    """For filtered ranking: all true tails of each (h, r) and heads of each (r, t)."""

    def __init__(self, edges: np.ndarray, num_relations: int):
        self.R = num_relations
        hr = edges[:, 0] * num_relations + edges[:, 1]
        order = np.argsort(hr, kind="stable")
        self.hr_keys, self.hr_tails = hr[order], edges[order, 2]
        tr = edges[:, 2] * num_relations + edges[:, 1]
        order = np.argsort(tr, kind="stable")
        self.tr_keys, self.tr_heads = tr[order], edges[order, 0]

    @staticmethod
    def _pairs(keys: np.ndarray, values: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.searchsorted(keys, queries, side="left")
        hi = np.searchsorted(keys, queries, side="right")
        counts = hi - lo
        rows = np.repeat(np.arange(len(queries)), counts)
        starts = np.repeat(lo, counts)
        offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return rows, values[starts + offsets]

    def tails(self, h: np.ndarray, r: np.ndarray):
        return self._pairs(self.hr_keys, self.hr_tails, h * self.R + r)

    def heads(self, r: np.ndarray, t: np.ndarray):
        return self._pairs(self.tr_keys, self.tr_heads, t * self.R + r)


@torch.no_grad()
def ranking_metrics(
    z: torch.Tensor, decoder: DistMultDecoder, queries: np.ndarray, known: _KnownAnswers, chunk: int = 256
) -> dict[str, float]:
    """Filtered MRR and Hits@1/3/10 of `queries` (Q, 3), predicting both tails and heads."""
    if len(queries) == 0:
        return {"mrr": 0.0, "hits@1": 0.0, "hits@3": 0.0, "hits@10": 0.0, "queries": 0}
    ranks = []
    dev = z.device
    for side in ("tail", "head"):
        for i in range(0, len(queries), chunk):
            q = queries[i : i + chunk]
            h, r, t = (torch.from_numpy(q[:, k]).to(dev) for k in range(3))
            if side == "tail":
                scores = decoder.score_tails(z, h, r)
                target = t
                rows, cols = known.tails(q[:, 0], q[:, 1])
            else:
                scores = decoder.score_heads(z, r, t)
                target = h
                rows, cols = known.heads(q[:, 1], q[:, 2])
            target_scores = scores.gather(1, target.unsqueeze(1))
            scores[torch.from_numpy(rows).to(dev), torch.from_numpy(cols).to(dev)] = -math.inf
            ranks.append(1 + (scores > target_scores).sum(dim=1))
    rank = torch.cat(ranks).float()
    return {
        "mrr": float((1.0 / rank).mean()),
        "hits@1": float((rank <= 1).float().mean()),
        "hits@3": float((rank <= 3).float().mean()),
        "hits@10": float((rank <= 10).float().mean()),
        "queries": int(rank.numel()),
    }


def train_entity_encoder(
    graph: KnowledgeGraph, config: EncoderConfig | None = None, progress: bool = True
) -> EntityEmbeddings:
    """Train the relational GNN by link prediction on `graph`; one embedding per entity.

    Validation edges (and their inverses) are removed from the message-passing graph,
    so the reported filtered MRR / Hits@10 measure prediction of unseen facts.
    """
    cfg = config or EncoderConfig()
    cfg.validate()
    if len(graph.edges) == 0:
        raise KGEnhanceError("the graph has no edges between entities: nothing to learn embeddings from")
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    n, num_rel = len(graph), len(graph.relations)
    features = None
    if cfg.text_features:
        from .features import entity_text_features

        features = entity_text_features(graph, cfg.backbone, cfg.text_features, progress=progress).to(device)
    base_edges, support, query, held = _inductive_split(graph.edges, n, cfg.inductive_fraction, cfg.seed)
    train_np, val_np = split_edges(base_edges, cfg.validation_fraction, cfg.max_validation_edges, cfg.seed)
    known = _KnownAnswers(graph.edges, num_rel)
    train_t = torch.from_numpy(train_np)
    message = MessageGraph(train_t, n, num_rel).to(device)
    encoder = RelationalGraphEncoder(
        n, num_rel, cfg.dim, cfg.num_layers, cfg.num_bases, cfg.dropout,
        features_dim=features.shape[1] if features is not None else 0, id_embeddings=cfg.id_embeddings,
    ).to(device)
    decoder = DistMultDecoder(num_rel, cfg.dim).to(device)
    params = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=cfg.learning_rate)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_dev = train_t.to(device)

    best = {"mrr": -1.0}
    best_state = None
    bad_checks = 0
    history = []
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, desc="training entity encoder", unit="epoch", disable=None)
    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        encoder.train()
        decoder.train()
        perm = torch.randperm(len(train_t), generator=gen).to(device)
        total = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            pos = train_dev[perm[i : i + cfg.batch_size]]
            z = encoder(message, features)
            negatives = torch.randint(0, n, (cfg.negatives,), generator=gen).to(device)
            loss = decoder.ranking_loss(z, pos, negatives)
            if cfg.l2:
                loss = loss + cfg.l2 * (z[pos[:, 0]].pow(2).sum() + z[pos[:, 2]].pow(2).sum()) / len(pos)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(pos)
        record = {"epoch": epoch, "loss": total / len(train_t)}
        if len(val_np) and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            encoder.eval()
            decoder.eval()
            with torch.no_grad():
                metrics = ranking_metrics(encoder(message, features), decoder, val_np, known)
            record.update(metrics)
            if metrics["mrr"] > best["mrr"]:
                best = {**metrics, "epoch": epoch}
                best_state = (copy.deepcopy(encoder.state_dict()), copy.deepcopy(decoder.state_dict()))
                bad_checks = 0
            else:
                bad_checks += 1
        history.append(record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.4f}", mrr=f"{best.get('mrr', 0):.3f}")
        if bad_checks >= cfg.patience:
            log.info("early stopping at epoch %d (best validation MRR at epoch %d)", epoch, best["epoch"])
            break
    if bar is not None:
        bar.close()
    if best_state is not None:
        encoder.load_state_dict(best_state[0])
        decoder.load_state_dict(best_state[1])
    encoder.eval()
    inductive = None
    with torch.no_grad():
        if held is not None:
            # entities never seen in training: embedded from their text and their support edges
            seen = MessageGraph(torch.from_numpy(np.concatenate([base_edges, support])), n, num_rel).to(device)
            inductive = {**ranking_metrics(encoder(seen, features), decoder, query, known),
                         "entities": int(held.sum()), "support_edges": int(len(support))}
        full = MessageGraph(torch.from_numpy(graph.edges), n, num_rel).to(device)
        vectors = encoder(full, features).float().cpu()
    metrics = {
        "mrr": best.get("mrr", 0.0) if best_state is not None else None,
        "hits@1": best.get("hits@1"),
        "hits@3": best.get("hits@3"),
        "hits@10": best.get("hits@10"),
        "best_epoch": best.get("epoch"),
        "epochs_run": epoch,
        "entities": n,
        "relations": num_rel,
        "train_edges": int(len(train_np)),
        "validation_edges": int(len(val_np)),
        "seconds": round(time.perf_counter() - start, 2),
        "device": str(device),
        "history": history,
    }
    if inductive is not None:
        metrics["inductive"] = inductive
    return EntityEmbeddings(
        vectors=vectors,
        graph_hash=graph.content_hash,
        config={"encoder": "rgcn-basis", "decoder": "distmult", **asdict(cfg)},
        metrics=metrics,
        relation_vectors=decoder.relation.detach().float().cpu(),
    )
