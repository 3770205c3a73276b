"""`KnowledgeAwareConfig`: the backbone's config plus where and how knowledge is fused."""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig

from ..errors import ConfigError

# The layout of a saved model directory; bump when a newer kgenhance could not read an
# older directory the same way (from_pretrained refuses directories of a newer format).
MODEL_FORMAT = 1
FUSIONS = ("kar", "ernie")


class KnowledgeAwareConfig(PretrainedConfig):
    """Configuration of a `KnowledgeAwareClassifier`.

    Args:
        backbone: the Hugging Face encoder's config as a dict (with its ``model_type``).
        use_knowledge: False builds the identical classifier without the knowledge layer.
        knowledge_layer: how many encoder layers run before the knowledge layer
            (``None``: two thirds of the way up, e.g. 4 of 6).
        num_entities / entity_dim: size of the entity embedding table (row 0 is padding).
        knowledge_dim: width of the knowledge layer's span and entity space.
        knowledge_heads: heads of the word-piece → entity-span attention.
        max_mentions / max_candidates: per text and per mention, as fed to the model.
        pooling: ``"mean"`` over word pieces or ``"cls"`` for the classifier's input.
        graph_hash: content hash of the graph the entity embeddings were trained on.
        fusion: ``"kar"`` (word pieces attend to the mentions' entities, KnowBERT's KAR) or
            ``"ernie"`` (each mention's entity is fused at its first word piece, ERNIE).
        knowledge_gate: scale the knowledge update per word piece by a learned gate.
        hierarchy_dim: width of the trainable hierarchy features appended to each entity's
            embedding (the mean of its own and its ancestors' vectors; 0 = none).
        max_ancestors: ancestors per entity in those features (nearest first).
        entity_text: append the names of this many linked entities (with their nearest
            super-classes) to the input as a second segment (0 = off).
        entity_text_ancestors: super-classes named per entity in that segment.
        entity_text_pooling: whether that segment's word pieces are part of the mean pooling
            (False: the classifier pools the text's own word pieces; the names still reach
            them through self-attention).
        concept_bag: add a bag-of-concepts head — each linked entity and its ``is_a``
            ancestors vote on the label with trainable weights (`ConceptBag`).
        concept_ancestors: concepts per linked entity in that head (itself + nearest ancestors).
        concept_bag_dropout: in training, the chance that a text's concept-bag logits are left
            out (the rest scaled by 1 / (1 − p)), so the encoder also learns to decide alone.
        entity_text_visibility: K-BERT's visibility matrix over that segment: an entity's
            name tokens see only each other and its mention's word pieces, and only those
            word pieces see them; the rest of the text does not (BERT, RoBERTa, DistilBERT
            backbones: those take a per-token attention mask).
    """

    model_type = "kgenhance"

    def __init__(
        self,
        backbone: dict | None = None,
        use_knowledge: bool = True,
        knowledge_layer: int | None = None,
        num_entities: int = 0,
        entity_dim: int = 128,
        knowledge_dim: int = 256,
        knowledge_heads: int = 4,
        knowledge_dropout: float = 0.1,
        max_mentions: int = 32,
        max_candidates: int = 4,
        classifier_dropout: float = 0.1,
        pooling: str = "mean",
        freeze_entity_embeddings: bool = True,
        graph_hash: str | None = None,
        fusion: str = "kar",
        knowledge_gate: bool = False,
        hierarchy_dim: int = 0,
        max_ancestors: int = 16,
        entity_text: int = 0,
        entity_text_ancestors: int = 2,
        entity_text_visibility: bool = False,
        entity_text_pooling: bool = True,
        concept_bag: bool = False,
        concept_ancestors: int = 32,
        concept_bag_dropout: float = 0.0,
        prefix_length: int = 0,
        prefix_projection: int = 128,
        kgenhance_format: int = MODEL_FORMAT,
        **kwargs,
    ):
        self.kgenhance_format = kgenhance_format
        self.backbone = dict(backbone or {})
        self.use_knowledge = use_knowledge
        self.knowledge_layer = knowledge_layer
        self.num_entities = num_entities
        self.entity_dim = entity_dim
        self.knowledge_dim = knowledge_dim
        self.knowledge_heads = knowledge_heads
        self.knowledge_dropout = knowledge_dropout
        self.max_mentions = max_mentions
        self.max_candidates = max_candidates
        self.classifier_dropout = classifier_dropout
        self.pooling = pooling
        self.freeze_entity_embeddings = freeze_entity_embeddings
        self.graph_hash = graph_hash
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
        if hierarchy_dim < 0 or max_ancestors < 1:
            raise ValueError("hierarchy_dim must be ≥ 0 and max_ancestors ≥ 1")
        self.fusion = fusion
        self.knowledge_gate = bool(knowledge_gate)
        self.hierarchy_dim = int(hierarchy_dim)
        self.max_ancestors = int(max_ancestors)
        self.entity_text = int(entity_text)
        self.entity_text_ancestors = int(entity_text_ancestors)
        if entity_text_visibility and not entity_text:
            raise ConfigError("entity_text_visibility needs entity_text > 0 (--entity-text N): the names it applies to")
        self.entity_text_visibility = bool(entity_text_visibility)
        if not entity_text_pooling and not entity_text:
            raise ConfigError("entity_text_pooling=False (--no-pool-names) needs entity_text > 0 (--entity-text N): "
                              "the names it leaves out")
        self.entity_text_pooling = bool(entity_text_pooling)
        if concept_ancestors < 1:
            raise ConfigError(f"concept_ancestors must be ≥ 1, not {concept_ancestors}")
        self.concept_bag = bool(concept_bag)
        self.concept_ancestors = int(concept_ancestors)
        if not 0.0 <= concept_bag_dropout < 1.0:
            raise ConfigError(f"concept_bag_dropout must be in [0, 1), not {concept_bag_dropout}")
        self.concept_bag_dropout = float(concept_bag_dropout)
        if prefix_length < 0:
            raise ConfigError(f"prefix_length must be ≥ 0, not {prefix_length}")
        self.prefix_length = int(prefix_length)
        self.prefix_projection = int(prefix_projection)
        super().__init__(**kwargs)

    def backbone_config(self) -> PretrainedConfig:
        """The backbone's own config object, rebuilt from `backbone`."""
        d = dict(self.backbone)
        model_type = d.pop("model_type", None)
        if not model_type:
            raise ValueError("KnowledgeAwareConfig.backbone has no model_type")
        return AutoConfig.for_model(model_type, **d)

    @property
    def hidden_size(self) -> int:  # noqa: D401 - mirrors the backbone's attribute
        return int(self.backbone.get("hidden_size") or self.backbone.get("dim") or self.backbone.get("d_model"))

    @property
    def num_backbone_layers(self) -> int:
        for key in ("num_hidden_layers", "n_layers", "num_layers"):
            if key in self.backbone:
                return int(self.backbone[key])
        raise ValueError("cannot tell the backbone's number of layers from its config")

    def resolved_knowledge_layer(self) -> int:
        """The number of encoder layers below the knowledge layer (1 … num_layers)."""
        n = self.num_backbone_layers
        k = self.knowledge_layer if self.knowledge_layer is not None else max(1, round(2 * n / 3))
        if not 1 <= k <= n:
            raise ValueError(f"knowledge_layer must be between 1 and {n}, not {k}")
        return k
