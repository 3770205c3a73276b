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
from .compgcn import COMPOSITIONS
from .decoders import DECODERS, LinkDecoder
from .model import MessageGraph
from .registry import ENCODERS, build_decoder, build_graph_encoder, encoder_config
from .sampling import NeighbourSampler, local_ids

log = logging.getLogger(__name__)


@dataclass
class EncoderConfig:
    """Settings of `train_entity_encoder`."""

    encoder: str = "compgcn"  # "compgcn", "rgcn" or "sage" (see ENCODERS)
    decoder: str = "rotate"  # "rotate" or "distmult" (symmetric: cannot tell a parent from a child)
    dim: int = 128
    num_layers: int = 2
    num_bases: int = 8  # rgcn: shared basis matrices
    composition: str = "mult"  # compgcn: "sub", "mult" or "corr"
    dropout: float = 0.1
    epochs: int = 60
    batch_size: int = 8192  # positive edges per optimisation step
    steps_per_epoch: int | None = None  # cap on steps per epoch (huge graphs: an "epoch" is a random share)
    learning_rate: float = 0.01
    negatives: int = 256  # random entities shared by a step's positives as corrupted heads and tails
    l2: float = 1e-6  # penalty on the squared norms of the scored vectors
    filter_negatives: bool = False  # drop random "corruptions" that are known facts from the loss
    validation_fraction: float = 0.05
    max_validation_edges: int = 2000
    eval_every: int = 5  # epochs between validation MRR checks
    patience: int = 4  # validation checks without improvement before stopping
    seed: int = 0
    device: str = "auto"
    mixed_precision: bool = True  # bfloat16 autocast on CUDA (ignored on the CPU)
    sampling: str = "auto"  # "full" graph per step, "neighbour" samples, or "auto" (by memory_budget_gb)
    fanouts: tuple[int, ...] = (10, 5)  # neighbour sampling: incoming edges kept per node, per hop
    memory_budget_gb: float = 8.0  # "auto" samples when a full-graph pass would need more than this
    inference_batch: int = 4096  # entities embedded per sampled forward pass
    text_features: str | None = None  # "static" or "contextual": entity names/definitions as input features
    id_embeddings: bool = True  # learned per-entity input vectors (off + text features = inductive)
    backbone: str | None = None  # encoder of the text features (default: the bundled MiniLM)
    inductive_fraction: float = 0.0  # hold out this share of entities to measure inductive link prediction

    def validate(self) -> None:
        for name in ("dim", "num_layers", "num_bases", "epochs", "batch_size", "negatives", "eval_every",
                     "inference_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(f"encoder {name} must be at least 1, not {getattr(self, name)}")
        if self.encoder not in ENCODERS:
            raise ConfigError(f"unknown encoder {self.encoder!r} (use one of {', '.join(ENCODERS)})")
        if self.decoder not in DECODERS:
            raise ConfigError(f"unknown decoder {self.decoder!r} (use one of {', '.join(DECODERS)})")
        if self.decoder == "rotate" and self.dim % 2:
            raise ConfigError(f"the rotate decoder needs an even dim, not {self.dim}")
        if self.composition not in COMPOSITIONS:
            raise ConfigError(f"unknown composition {self.composition!r} (use one of {', '.join(COMPOSITIONS)})")
        if self.sampling not in ("auto", "full", "neighbour"):
            raise ConfigError(f"sampling must be 'auto', 'full' or 'neighbour', not {self.sampling!r}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(f"steps_per_epoch must be at least 1, not {self.steps_per_epoch}")
        if not self.fanouts or min(self.fanouts) < 1:
            raise ConfigError(f"fanouts must be positive numbers, one per hop, not {self.fanouts}")
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
    """Hold out a random share of edges for validation (train, validation), pair by pair.

    All facts between the same two entities, in either direction and of any relation, go to
    the same side: a held-out (h, r, t) never has its inverse (t, r⁻¹, h) or a duplicate
    under a super-property left in training to give the answer away.
    """
    rng = np.random.default_rng(seed)
    n_val = min(int(round(len(edges) * fraction)), max_edges)
    if len(edges) - n_val < 1 or n_val == 0:
        return edges, edges[:0]
    lo = np.minimum(edges[:, 0], edges[:, 2]).astype(np.int64)
    hi = np.maximum(edges[:, 0], edges[:, 2]).astype(np.int64)
    _, group, sizes = np.unique(lo * (int(hi.max()) + 1) + hi, return_inverse=True, return_counts=True)
    order = rng.permutation(len(sizes))
    taken = np.zeros(len(sizes), dtype=bool)
    taken[order[np.cumsum(sizes[order]) <= n_val]] = True
    held = taken[group.reshape(-1)]
    return edges[~held], edges[held]


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
        self._facts: tuple[torch.Tensor, int] | None = None

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

    def corruption_masks(self, positives: torch.Tensor, negatives: torch.Tensor,
                         num_entities: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, K) masks: which corrupted (h, r, neg) and (neg, r, t) are in fact known facts."""
        if self._facts is None:  # one sorted key per fact: (h·R + r)·N + t, searched in bulk
            keys = torch.from_numpy(self.hr_keys.astype(np.int64)) * num_entities + torch.from_numpy(self.hr_tails)
            self._facts = (torch.sort(keys).values, num_entities)
        facts, n = self._facts

        def known(keys: torch.Tensor) -> torch.Tensor:
            return facts[torch.searchsorted(facts, keys).clamp(max=len(facts) - 1)] == keys

        h, r, t = positives[:, 0:1], positives[:, 1:2], positives[:, 2:3]
        neg = negatives.unsqueeze(0)
        return known((h * self.R + r) * n + neg), known((neg * self.R + r) * n + t)

    def heads(self, r: np.ndarray, t: np.ndarray):
        return self._pairs(self.tr_keys, self.tr_heads, t * self.R + r)


@torch.no_grad()
def ranking_metrics(
    z: torch.Tensor, decoder: LinkDecoder, queries: np.ndarray, known: _KnownAnswers, chunk: int = 256
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


class _LinkPredictor(torch.nn.Module):
    """Encoder + decoder as one module whose forward is a training step's loss (what DDP wraps)."""

    def __init__(self, encoder: torch.nn.Module, decoder: LinkDecoder, l2: float):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.l2 = l2

    def forward(self, graph: MessageGraph, features, positives: torch.Tensor, negatives: torch.Tensor,
                true_corruptions: tuple[torch.Tensor, torch.Tensor] | None = None):
        z = self.encoder(graph, features).float()
        loss = self.decoder.ranking_loss(z, positives, negatives, true_corruptions)
        if self.l2:
            loss = loss + self.l2 * (z[positives[:, 0]].pow(2).sum() + z[positives[:, 2]].pow(2).sum()) / len(positives)
        return loss


# float32 tensors of size (entities, dim) a full-graph pass keeps per layer (states, sums,
# projections, activations, norms; with gradients when training) — an order of magnitude
NODE_TENSORS_PER_LAYER = {"train": 10, "inference": 4}


def full_graph_bytes(cfg: EncoderConfig, num_entities: int, message_edges: int, training: bool = True) -> int:
    """Estimated memory of one full-graph pass: per-edge messages and per-entity states.

    Training keeps every layer's tensors for the backward pass (and the id table's Adam
    state); inference without gradients holds about one layer at a time.
    """
    per_edge = ENCODERS[cfg.encoder].message_floats(encoder_config(cfg.encoder, cfg))  # type: ignore[attr-defined]
    if training:
        per_layer = message_edges * per_edge * 2 + num_entities * cfg.dim * NODE_TENSORS_PER_LAYER["train"]
        return 4 * (per_layer * cfg.num_layers + 3 * num_entities * cfg.dim)
    return 4 * (message_edges * per_edge + num_entities * cfg.dim * NODE_TENSORS_PER_LAYER["inference"])


def choose_sampling(cfg: EncoderConfig, message_edges: int, num_entities: int = 0, training: bool = True) -> str:
    """ "full" or "neighbour": `cfg.sampling`, or for "auto" whether a full-graph pass fits the budget."""
    if cfg.sampling != "auto":
        return cfg.sampling
    needed = full_graph_bytes(cfg, num_entities, message_edges, training)
    return "neighbour" if needed > cfg.memory_budget_gb * 2**30 else "full"


class _Embedder:
    """Every entity's vector from an encoder, whole-graph or in sampled chunks (repeatable)."""

    def __init__(self, graph: MessageGraph, sampled: bool, cfg: EncoderConfig, device: torch.device):
        self.graph = graph
        self.cfg = cfg
        self.device = device
        self.sampler = None
        if sampled:
            self.sampler = NeighbourSampler(graph, cfg.fanouts, torch.Generator())
        else:
            self.graph = graph.to(device)

    @torch.no_grad()
    def __call__(self, encoder: torch.nn.Module, features) -> torch.Tensor:
        if self.sampler is None:
            return encoder(self.graph, features).float()
        assert self.sampler.generator is not None
        self.sampler.generator.manual_seed(self.cfg.seed + 1)  # the same samples at every call
        n = self.graph.num_nodes
        out = torch.empty(n, self.cfg.dim, device=self.device)
        for i in range(0, n, self.cfg.inference_batch):
            seeds = torch.arange(i, min(n, i + self.cfg.inference_batch))
            sub = self.sampler.sample(seeds).to(self.device)
            out[i : i + len(seeds)] = encoder(sub, features)[: len(seeds)].float()
        return out


def _distributed() -> tuple[int, int]:
    """(rank, world size) of an initialised torch.distributed group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def train_entity_encoder(
    graph: KnowledgeGraph, config: EncoderConfig | None = None, progress: bool = True
) -> EntityEmbeddings:
    """Train a relational GNN by link prediction on `graph`; one embedding per entity.

    Validation edges (and every other fact between the same two entities) are removed from
    the message-passing graph, so the reported filtered MRR / Hits@k measure prediction of
    unseen facts. Big graphs are trained on neighbour samples (`sampling`). Inside an
    initialised torch.distributed group (torchrun), each process takes its share of every
    batch and gradients are averaged (DistributedDataParallel); all end with the same weights.
    """
    import contextlib

    cfg = config or EncoderConfig()
    cfg.validate()
    if len(graph.edges) == 0:
        raise KGEnhanceError("the graph has no edges between entities: nothing to learn embeddings from")
    seed_everything(cfg.seed)
    rank, world = _distributed()
    device = resolve_device(cfg.device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    n, num_rel = len(graph), len(graph.relations)
    features = None
    if cfg.text_features:
        from .features import entity_text_features

        features = entity_text_features(graph, cfg.backbone, cfg.text_features, progress=progress and rank == 0)
        features = features.to(device)
    base_edges, support, query, held = _inductive_split(graph.edges, n, cfg.inductive_fraction, cfg.seed)
    train_np, val_np = split_edges(base_edges, cfg.validation_fraction, cfg.max_validation_edges, cfg.seed)
    known = _KnownAnswers(graph.edges, num_rel)
    train_t = torch.from_numpy(train_np).long()
    mode = choose_sampling(cfg, 2 * len(train_np), n)
    sampled = mode == "neighbour"
    # embedding every entity needs no gradients: often fits whole where training steps do not
    sampled_inference = choose_sampling(cfg, 2 * len(graph.edges), n, training=False) == "neighbour"
    message = MessageGraph.from_triples(train_t, n, num_rel)
    embed_train = _Embedder(message, sampled_inference, cfg, device)
    # full-graph steps pass messages over the validation embedder's graph when it is whole (one norm cache)
    full_step_graph = None if sampled else embed_train.graph if not sampled_inference else message.to(device)
    train_sampler = NeighbourSampler(message, cfg.fanouts, torch.Generator().manual_seed(cfg.seed + 1000 * rank)) \
        if sampled else None
    encoder = build_graph_encoder(cfg.encoder, n, num_rel, cfg, features.shape[1] if features is not None else 0)
    decoder = build_decoder(cfg.decoder, num_rel, cfg.dim)
    predictor = _LinkPredictor(encoder, decoder, cfg.l2).to(device)
    step_model: torch.nn.Module = predictor
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        step_model = DistributedDataParallel(predictor, device_ids=[device.index] if device.type == "cuda" else None)
    table = getattr(encoder, "inputs", None)
    table = table.entity if table is not None else None
    if sampled and world == 1 and table is not None:
        # a sampled step touches a few thousand rows of the id table: sparse gradients and
        # SparseAdam update only those, instead of the whole (num_entities, dim) table per step
        table.sparse = True
        dense = [p for p in predictor.parameters() if p is not table.weight]
        optimizers = [torch.optim.Adam(dense, lr=cfg.learning_rate),
                      torch.optim.SparseAdam([table.weight], lr=cfg.learning_rate)]
    else:
        optimizers = [torch.optim.Adam(predictor.parameters(), lr=cfg.learning_rate)]
    train_facts = _KnownAnswers(train_np, num_rel) if cfg.filter_negatives else None  # only what training may know
    gen = torch.Generator().manual_seed(cfg.seed)  # the same batches on every process
    neg_gen = torch.Generator().manual_seed(cfg.seed + 1000 * rank)
    amp = cfg.mixed_precision and device.type == "cuda"

    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if amp else contextlib.nullcontext()

    best = {"mrr": -1.0}
    best_state = None
    bad_checks = 0
    history = []
    start = time.perf_counter()
    bar = None
    if progress and rank == 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.epochs, desc=f"training entity encoder ({cfg.encoder}, {mode})", unit="epoch",
                   disable=None)
    epoch = 0
    for epoch in range(1, cfg.epochs + 1):
        predictor.train()
        perm = torch.randperm(len(train_t), generator=gen)
        total, seen = 0.0, 0
        epoch_start = time.perf_counter()
        for step, i in enumerate(range(0, len(perm), cfg.batch_size)):
            if cfg.steps_per_epoch is not None and step >= cfg.steps_per_epoch:
                break
            batch = train_t[perm[i : i + cfg.batch_size]]
            if world > 1 and len(batch) >= world:
                batch = batch[rank::world]
            negatives = torch.randint(0, n, (cfg.negatives,), generator=neg_gen)
            masks = None
            if train_facts is not None:
                masks = tuple(m.to(device) for m in train_facts.corruption_masks(batch, negatives, n))
            if sampled:
                assert train_sampler is not None
                seeds = torch.cat([batch[:, 0], batch[:, 2], negatives])
                sub = train_sampler.sample(seeds)
                step_graph = sub.to(device)
                heads, tails, negatives = local_ids(sub, seeds).split([len(batch), len(batch), len(negatives)])
                positives = torch.stack([heads, batch[:, 1], tails], 1)
            else:
                step_graph, positives = full_step_graph, batch
            with autocast():
                loss = step_model(step_graph, features, positives.to(device), negatives.to(device), masks)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
            total += float(loss.detach()) * len(batch)
            seen += len(batch)
        record = {"epoch": epoch, "loss": total / max(1, seen), "edges": seen,
                  "train_seconds": round(time.perf_counter() - epoch_start, 3)}
        if len(val_np) and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            predictor.eval()
            with autocast():
                z = embed_train(encoder, features)
            metrics = ranking_metrics(z, decoder, val_np, known)
            record.update(metrics)
            if metrics["mrr"] > best["mrr"]:
                best = {**metrics, "epoch": epoch}
                best_state = copy.deepcopy(predictor.state_dict())
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
        predictor.load_state_dict(best_state)
    predictor.eval()
    inductive = None
    with autocast():
        if held is not None:
            # entities never seen in training: embedded from their text and their support edges
            with_support = MessageGraph.from_triples(
                torch.from_numpy(np.concatenate([base_edges, support])).long(), n, num_rel)
            z = _Embedder(with_support, sampled_inference, cfg, device)(encoder, features)
            inductive = {**ranking_metrics(z, decoder, query, known),
                         "entities": int(held.sum()), "support_edges": int(len(support))}
        embed_start = time.perf_counter()
        full = MessageGraph.from_triples(torch.from_numpy(graph.edges).long(), n, num_rel)
        vectors = _Embedder(full, sampled_inference, cfg, device)(encoder, features).cpu()
        embed_seconds = time.perf_counter() - embed_start
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
        "sampling": mode,
        "inference": "neighbour" if sampled_inference else "full",
        "sparse_id_gradients": len(optimizers) == 2,
        "processes": world,
        "seconds": round(time.perf_counter() - start, 2),
        "embed_seconds": round(embed_seconds, 2),
        "device": str(device),
        "history": history,
    }
    if inductive is not None:
        metrics["inductive"] = inductive
    return EntityEmbeddings(
        vectors=vectors,
        graph_hash=graph.content_hash,
        config={**asdict(cfg), "fanouts": list(cfg.fanouts)},
        metrics=metrics,
        relation_vectors=decoder.relation.detach().float().cpu(),
    )
