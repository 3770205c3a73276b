"""The entity encoders by name, each built from the settings of `EncoderConfig` it knows."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from torch import nn

from ..errors import ConfigError
from .compgcn import CompGCNEncoder
from .decoders import DECODERS, LinkDecoder
from .model import RelationalGraphEncoder
from .sage import RelationalSAGEEncoder

ENCODERS: dict[str, type[nn.Module]] = {
    "rgcn": RelationalGraphEncoder,
    "compgcn": CompGCNEncoder,
    "sage": RelationalSAGEEncoder,
}


def encoder_config(name: str, settings: Any, features_dim: int = 0):
    """The encoder's own config dataclass, filled from the same-named attributes of `settings`."""
    if name not in ENCODERS:
        raise ConfigError(f"unknown encoder {name!r} (use one of {', '.join(ENCODERS)})")
    cls = ENCODERS[name].config_class  # type: ignore[attr-defined]
    values = {f.name: getattr(settings, f.name) for f in fields(cls) if hasattr(settings, f.name)}
    values["features_dim"] = features_dim
    return cls(**values)


def build_graph_encoder(name: str, num_entities: int, num_relations: int, settings: Any, features_dim: int = 0) -> nn.Module:
    """An encoder `name` for a graph with these entities and relation types."""
    return ENCODERS[name](num_entities, num_relations, encoder_config(name, settings, features_dim))


def build_decoder(name: str, num_relations: int, dim: int) -> LinkDecoder:
    """A link-prediction decoder `name` ("distmult" or "rotate")."""
    if name not in DECODERS:
        raise ConfigError(f"unknown decoder {name!r} (use one of {', '.join(DECODERS)})")
    return DECODERS[name](num_relations, dim)
