"""Randomly initialised local backbones for timing runs on machines the weights do not travel to.

    python bench/random_backbones.py OUT_DIR

Writes OUT_DIR/minilm (the default all-MiniLM-L6-v2's shape, ≈ 23 M parameters) and
OUT_DIR/bert-base (BERT-base's shape, ≈ 109 M), each with the bundled tokenizer, loadable as
`--backbone OUT_DIR/NAME`. Their predictions mean nothing; their speed is the real model's.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import BertConfig, BertModel

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kgenhance.model.backbone import resolve_backbone

    default = resolve_backbone(None)
    shapes = {
        "minilm": BertConfig.from_pretrained(default),
        "bert-base": BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                intermediate_size=3072, max_position_embeddings=512),
    }
    for name, config in shapes.items():
        torch.manual_seed(0)
        model = BertModel(config)
        model.save_pretrained(out / name)
        for f in TOKENIZER_FILES:
            shutil.copy(default / f, out / name / f)
        print(f"{out / name}: {sum(p.numel() for p in model.parameters()):,} parameters")


if __name__ == "__main__":
    main()
