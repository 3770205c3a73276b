"""LoRA on the encoder with `peft`: apply it, save only the adapter, reload it onto the base encoder.

An adapter directory holds what training changed — the LoRA matrices and the new modules
(knowledge layer, head, hierarchy features) — plus what the base encoder cannot give back:
the model config, the frozen entity table, the tokenizer, the graph and the linker
settings. The encoder's own weights are read from the base backbone when it is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .._io import atomic_directory, write_json_atomic
from ..errors import ModelError
from .backbone import load_encoder_weights, lora_target_pattern, resolve_backbone
from .configuration import KnowledgeAwareConfig
from .modeling import KnowledgeAwareClassifier

ADAPTER_MARKER = "kgenhance_adapter.json"
ENTITY_TABLE_FILE = "entity_embeddings.safetensors"
# Modules that are new on top of the backbone: trained in full, saved in the adapter.
NEW_MODULES = ("knowledge", "classifier", "hierarchy", "concept_bag")


def apply_lora(model: KnowledgeAwareClassifier, r: int = 8, alpha: int = 16, dropout: float = 0.1):
    """Wrap `model` in a `peft` LoRA model: adapters on the encoder's attention projections,
    the knowledge layer, head and hierarchy features trained in full (``modules_to_save``)."""
    from peft import LoraConfig, get_peft_model

    model_type = model.config.backbone.get("model_type", "bert")
    config = LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=lora_target_pattern(model_type), bias="none",
        modules_to_save=[m for m in NEW_MODULES if getattr(model, m, None) is not None],
    )
    return get_peft_model(model, config)


def save_adapter(peft_model, directory: str | Path) -> list[Path]:
    """Write the adapter directory (atomically); returns its files."""
    from safetensors.torch import save_file

    model: KnowledgeAwareClassifier = peft_model.base_model.model
    with atomic_directory(directory) as tmp:
        peft_model.save_pretrained(str(tmp))
        model.config.save_pretrained(str(tmp))
        if model.config.use_knowledge:
            table = model.entity_embeddings.weight.detach().cpu().contiguous()
            save_file({"weight": table}, str(tmp / ENTITY_TABLE_FILE))
        model.save_resources(tmp)
        write_json_atomic(tmp / ADAPTER_MARKER, {
            "format": "kgenhance-lora-adapter", "backbone": getattr(model.config, "backbone_name", None),
        })
    return sorted(p for p in Path(directory).iterdir() if p.is_file())


def is_adapter(directory: str | Path) -> bool:
    """True for a directory written by `save_adapter`."""
    return (Path(directory) / ADAPTER_MARKER).is_file()


def load_adapter(directory: str | Path, backbone: str | None = None, *, merge: bool = True):
    """The classifier of an adapter directory on its base encoder (`backbone` overrides the
    recorded one); merged into plain weights unless ``merge=False`` (then a `PeftModel`)."""
    from peft import PeftModel
    from safetensors.torch import load_file

    path = Path(directory)
    if not is_adapter(path):
        raise ModelError(f"{path}: not a kgenhance LoRA adapter directory (no {ADAPTER_MARKER})")
    marker = json.loads((path / ADAPTER_MARKER).read_text(encoding="utf-8"))
    config = KnowledgeAwareConfig.from_pretrained(str(path))
    base_path = resolve_backbone(backbone or marker.get("backbone"))
    model = KnowledgeAwareClassifier(config)
    pretrained = load_encoder_weights(base_path)
    missing, _ = model.encoder.load_state_dict(pretrained.state_dict(), strict=False)
    if missing:
        raise ModelError(f"backbone {base_path}: weights missing for {missing[:3]}… (not the adapter's base?)")
    if config.use_knowledge:
        table = load_file(str(path / ENTITY_TABLE_FILE))["weight"]
        if tuple(table.shape) != tuple(model.entity_embeddings.weight.shape):
            raise ModelError(f"{path}: {ENTITY_TABLE_FILE} has shape {tuple(table.shape)}, "
                             f"expected {tuple(model.entity_embeddings.weight.shape)}")
        with torch.no_grad():
            model.entity_embeddings.weight.copy_(table)
    try:
        peft_model = PeftModel.from_pretrained(model, str(path))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelError(f"{path}: cannot load the adapter ({exc})") from exc
    result = peft_model.merge_and_unload() if merge else peft_model
    target = result if merge else peft_model.base_model.model
    target._load_resources(path)
    result.eval()
    return result
