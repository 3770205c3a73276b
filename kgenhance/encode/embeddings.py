"""Entity embeddings on disk: safetensors + JSON, tied to the graph's content hash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._io import atomic_path, write_json_atomic
from ..errors import ModelError
from ..graph.model import KnowledgeGraph

EMBEDDINGS_FILE = "entity_embeddings.safetensors"
CONFIG_FILE = "encoder_config.json"
METRICS_FILE = "metrics.json"


@dataclass
class EntityEmbeddings:
    """One vector per entity of a graph (row i = entity id i), plus how they were made."""

    vectors: torch.Tensor  # (num_entities, dim)
    graph_hash: str
    config: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    relation_vectors: torch.Tensor | None = None  # decoder's per-relation vectors

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def check(self, graph: KnowledgeGraph) -> None:
        """Raise `ModelError` unless these embeddings were made from `graph`."""
        if self.graph_hash != graph.content_hash or len(self) != len(graph):
            raise ModelError(
                "the entity embeddings were trained on a different graph "
                f"(embeddings: {self.graph_hash[:12]}…, {len(self)} entities; "
                f"graph: {graph.content_hash[:12]}…, {len(graph)} entities); re-run `kgenhance encode`"
            )

    def save(self, directory: str | Path) -> None:
        """Write entity_embeddings.safetensors, encoder_config.json and metrics.json."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {"entities": self.vectors.detach().float().cpu().contiguous()}
        if self.relation_vectors is not None:
            tensors["relations"] = self.relation_vectors.detach().float().cpu().contiguous()
        meta = {"graph_hash": self.graph_hash, "format": "kgenhance-entity-embeddings", "version": "1"}
        with atomic_path(directory / EMBEDDINGS_FILE) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        write_json_atomic(directory / CONFIG_FILE, {**self.config, "graph_hash": self.graph_hash})
        write_json_atomic(directory / METRICS_FILE, self.metrics)

    @classmethod
    def load(cls, path: str | Path, graph: KnowledgeGraph | None = None) -> "EntityEmbeddings":
        """Read embeddings from a directory (or the .safetensors file); check them against `graph`."""
        path = Path(path)
        file = path / EMBEDDINGS_FILE if path.is_dir() else path
        if not file.is_file():
            raise ModelError(f"{file}: no entity embeddings file (run `kgenhance encode` first)")
        try:
            from safetensors import safe_open

            with safe_open(str(file), framework="pt") as fh:
                meta = fh.metadata() or {}
            tensors = load_file(str(file))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{file}: cannot read entity embeddings ({exc})") from exc
        if meta.get("format") != "kgenhance-entity-embeddings" or "entities" not in tensors:
            raise ModelError(f"{file}: not a kgenhance entity embeddings file")
        config, metrics = {}, {}
        if (file.parent / CONFIG_FILE).is_file():
            config = json.loads((file.parent / CONFIG_FILE).read_text(encoding="utf-8"))
        if (file.parent / METRICS_FILE).is_file():
            metrics = json.loads((file.parent / METRICS_FILE).read_text(encoding="utf-8"))
        emb = cls(tensors["entities"], meta.get("graph_hash", ""), config, metrics, tensors.get("relations"))
        if graph is not None:
            emb.check(graph)
        return emb
