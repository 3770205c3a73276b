"""Entity input features from text: each entity's "label: definition" embedded by the backbone.

With these as the encoder's input (instead of, or besides, learned id vectors) an entity
that was not in the training graph still gets an embedding — from its name, its
definition and its neighbours — and the table never has to be retrained for it.
"""

from __future__ import annotations

import hashlib
import logging

import torch

from ..graph.model import KnowledgeGraph

log = logging.getLogger(__name__)


def entity_text_features(
    graph: KnowledgeGraph, backbone: str | None = None, mode: str = "static", batch_size: int = 256,
    cache: bool = True, progress: bool = False,
) -> torch.Tensor:
    """(N, hidden) unit vectors of every entity's "label: definition" under the backbone.

    ``mode="static"`` mean-pools the encoder's input word-piece embeddings (seconds for
    HPO); ``"contextual"`` runs the encoder. Cached (safetensors) in the kgenhance cache,
    keyed by the graph's content hash, the backbone directory and the mode.
    """
    from safetensors.torch import load_file, save_file

    from .._io import atomic_path
    from ..graph.cache import cache_dir
    from ..link.context import ContextEncoder
    from ..model.backbone import resolve_backbone

    path = resolve_backbone(backbone)
    key = hashlib.sha256(f"{graph.content_hash}|{path.resolve()}|{mode}".encode()).hexdigest()[:24]
    file = cache_dir() / "entity-text" / f"{key}.safetensors"
    if cache and file.is_file():
        try:
            return load_file(str(file))["features"]
        except Exception as exc:  # a damaged cache entry is rebuilt, never trusted
            log.warning("ignoring unreadable cached entity features %s (%s)", file, exc)
    enc = ContextEncoder(graph, backbone, mode)
    texts = [enc.entity_text(i) for i in range(len(graph))]
    chunks = range(0, len(texts), batch_size)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="embedding entity names", unit="batch", disable=None)
    features = torch.cat([torch.from_numpy(enc.embed(texts[i : i + batch_size], max_length=64)) for i in chunks])
    if cache:
        file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(file) as tmp:
            save_file({"features": features.contiguous()}, str(tmp))
    return features
