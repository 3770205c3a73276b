"""Training through `transformers.Trainer`: a data collator that links and aligns, and a ready Trainer.

With these, everything the Trainer offers works on a knowledge-aware classifier:
`TrainingArguments` (gradient accumulation, bf16/fp16 on GPU, schedulers, callbacks,
logging integrations) and multi-process training launched by ``torchrun`` or
``accelerate launch`` (DDP; ``gloo`` on CPU, ``nccl`` on GPUs). See
``examples/trainer_distributed.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import torch

from ..model.inputs import KnowledgeCollator
from .metrics import classification_metrics
from .trainer import TrainingConfig, _clip_per_set, _clip_sets, _param_groups

if TYPE_CHECKING:  # pragma: no cover
    from transformers import Trainer, TrainingArguments

    from ..link import EntityLinker, Mention
    from ..model import KnowledgeAwareClassifier


class KnowledgeDataCollator:
    """`transformers` data collator: rows with a text and a label → the model's tensors.

    Each text is linked once (mentions are cached by text, so later epochs cost only the
    tokenizer), its mentions aligned to word pieces and padded as `KnowledgeCollator`
    does. Labels may be strings (mapped through `label2id`) or ids.
    """

    def __init__(
        self,
        model: "KnowledgeAwareClassifier",
        linker: "EntityLinker | None" = None,
        *,
        text_column: str = "text",
        label_column: str = "label",
        max_length: int | None = None,
        cache_mentions: bool = True,
    ):
        if model.tokenizer is None:
            raise ValueError("the model has no tokenizer (build it with from_backbone or attach one)")
        cfg = model.config
        self.linker = linker if linker is not None else (model.linker if cfg.use_knowledge else None)
        if cfg.use_knowledge and self.linker is None:
            raise ValueError("a knowledge-aware model needs a linker (model.attach(linker=...) or linker=...)")
        self.collator = KnowledgeCollator.for_model(model, self.linker, max_length)
        self.text_column = text_column
        self.label_column = label_column
        self.label2id = {str(k): int(v) for k, v in (cfg.label2id or {}).items()}
        self.cache_mentions = cache_mentions
        self._mentions: dict[str, list[Mention]] = {}

    def _link(self, text: str) -> "list[Mention]":
        found = self._mentions.get(text)
        if found is None:
            found = self.linker.link(text)  # type: ignore[union-attr]
            if self.cache_mentions:
                self._mentions[text] = found
        return found

    def _label(self, value: Any) -> int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        try:
            return self.label2id[str(value)]
        except KeyError:
            raise ValueError(f"label {value!r} is not one of the model's labels {sorted(self.label2id)}") from None

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        texts = [str(f[self.text_column]) for f in features]
        labels = None
        key = self.label_column if self.label_column in features[0] else "labels" if "labels" in features[0] else None
        if key is not None:
            labels = [self._label(f[key]) for f in features]
        mentions = [self._link(t) for t in texts] if self.linker is not None else None
        # The collator links only the part the model reads when it links itself; with cached
        # whole-text mentions, those past the window are dropped by the alignment.
        return self.collator(texts, mentions=mentions, labels=labels).tensors


def compute_classification_metrics(eval_pred) -> dict[str, float]:
    """`compute_metrics` for the Trainer: accuracy and macro-F1 from logits and label ids."""
    logits, labels = eval_pred[0], eval_pred[1]
    if isinstance(logits, tuple):
        logits = logits[0]
    preds = np.asarray(logits).argmax(-1).tolist()
    scores = classification_metrics([int(x) for x in np.asarray(labels).tolist()], preds)
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}


def knowledge_trainer(
    model: "KnowledgeAwareClassifier",
    args: "TrainingArguments",
    train_dataset,
    eval_dataset=None,
    *,
    linker: "EntityLinker | None" = None,
    text_column: str = "text",
    label_column: str = "label",
    head_learning_rate: float | None = TrainingConfig.head_learning_rate,
    knowledge_learning_rate: float | None = TrainingConfig.knowledge_learning_rate,
    concept_learning_rate: float = TrainingConfig.concept_learning_rate,
    concept_weight_decay: float | None = None,
    **trainer_kwargs,
) -> "Trainer":
    """A `transformers.Trainer` set up for a knowledge-aware classifier.

    Datasets are anything indexable whose rows are mappings with `text_column` and
    `label_column` (a `datasets.Dataset`, a list of dicts). The Trainer must keep the text
    column for the collator, so ``args.remove_unused_columns`` is turned off; unused
    parameters are allowed under DDP (a batch without mentions leaves the knowledge layer
    out of the graph). The optimizer (the one `args` names) gets `train_classifier`'s
    parameter groups: ``args.learning_rate`` for the encoder, `head_learning_rate` for the
    head, `knowledge_learning_rate` (default: the head's) for the knowledge layer and
    `concept_learning_rate` (and `concept_weight_decay`, default ``args.weight_decay``) for a
    concept bag; ``head_learning_rate=None`` trains everything
    at ``args.learning_rate`` as a plain Trainer does. Gradients are clipped to
    ``args.max_grad_norm`` per set as in `train_classifier` — the baseline's parameters, the
    knowledge layer, the concept bag — so new modules cannot shrink the encoder's steps
    (single process and DDP; under FSDP, DeepSpeed or XLA, or with ``head_learning_rate=None``,
    the Trainer's own global clipping); the logged ``grad_norm`` is still the norm of all gradients.
    """
    from transformers import Trainer

    class KnowledgeTrainer(Trainer):
        def create_optimizer(self, *args, **kwargs):  # noqa: D102 - Trainer's hook, with our groups
            if self.optimizer is not None or head_learning_rate is None:
                return super().create_optimizer(*args, **kwargs)
            opt_model = args[0] if args else kwargs.get("model")
            opt_model = self.model if opt_model is None else opt_model
            cfg = TrainingConfig(
                learning_rate=self.args.learning_rate, weight_decay=self.args.weight_decay,
                head_learning_rate=head_learning_rate, knowledge_learning_rate=knowledge_learning_rate,
                concept_learning_rate=concept_learning_rate, concept_weight_decay=concept_weight_decay,
            )
            cfg.validate()
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(_param_groups(opt_model, cfg), **optimizer_kwargs)
            return self.optimizer

        def _clip_grad_norm(self, model):  # noqa: D102 - Trainer's hook: `train_classifier`'s clipping sets
            from accelerate.utils import DistributedType

            cached = getattr(self, "_kgenhance_clip_sets", None)
            if cached is None or cached[0] is not model:  # once per model, not every step
                self._kgenhance_clip_sets = cached = (model, _clip_sets(model))
            sets = cached[1]
            mixed_mesh = getattr(self, "_has_mixed_mesh_grads", lambda m: False)(model)
            if (head_learning_rate is None or len(sets) < 2 or mixed_mesh or self.accelerator.distributed_type
                    not in (DistributedType.NO, DistributedType.MULTI_GPU, DistributedType.MULTI_CPU)):
                return super()._clip_grad_norm(model)  # one set, or FSDP/DeepSpeed/XLA: their own clipping
            self.accelerator.unscale_gradients()  # once (fp16), before any set is measured
            return _clip_per_set(sets, self.args.max_grad_norm)

    args.remove_unused_columns = False
    if getattr(args, "ddp_find_unused_parameters", None) is None:
        args.ddp_find_unused_parameters = True
    trainer_kwargs.setdefault("compute_metrics", compute_classification_metrics)
    return KnowledgeTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=KnowledgeDataCollator(model, linker, text_column=text_column, label_column=label_column),
        **trainer_kwargs,
    )
