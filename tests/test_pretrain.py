"""kgenhance.train.pretrain: entity-span masking, masked-LM adaptation, its output as a backbone."""

from __future__ import annotations

import json

import pytest
import torch

from kgenhance.errors import DataError
from kgenhance.link import EntityLinker
from kgenhance.model import KnowledgeAwareClassifier
from kgenhance.train.pretrain import PretrainConfig, mask_tokens, pretrain_backbone

from conftest import CARDIO, NEURO


def test_entity_spans_are_masked_whole_and_the_budget_holds():
    ids = torch.arange(10, 30).reshape(1, 20)
    special = torch.zeros(1, 20, dtype=torch.bool)
    special[0, 0] = special[0, 19] = True
    groups = [[(2, 4), (8, 9), (12, 12)]]
    inputs, labels = mask_tokens(ids, special, groups, mask_token_id=4, vocab_size=40, mask_probability=0.34,
                                 entity_mask_share=1.0, generator=torch.Generator().manual_seed(0))
    chosen = labels != -100
    assert int(chosen.sum()) == round(0.34 * 18)  # 6 of the 18 real word pieces
    for first, last in groups[0]:
        block = chosen[0, first : last + 1]
        assert bool(block.all()) or not bool(block.any())  # a mention is predicted whole or not at all
    assert int(chosen[0, [2, 3, 4, 8, 9, 12]].sum()) == 6  # the whole budget went to mentions
    assert not bool(chosen[0, 0]) and not bool(chosen[0, 19])  # never a special token
    assert torch.equal(labels[0, chosen[0]], ids[0, chosen[0]])
    assert torch.equal(inputs[~(labels != -100)], ids[~(labels != -100)])  # the rest is untouched
    _, none = mask_tokens(ids, special, [[]], mask_token_id=4, vocab_size=40, mask_probability=0.34,
                          entity_mask_share=1.0, generator=torch.Generator().manual_seed(0))
    assert int((none != -100).sum()) == 6  # without mentions, single word pieces fill the budget


def test_pretrain_lowers_held_out_loss_and_gives_a_backbone(tiny_backbone, tiny_graph, tmp_path):
    corpus = (CARDIO + NEURO) * 4
    out = tmp_path / "adapted"
    cfg = PretrainConfig(epochs=6, batch_size=8, learning_rate=5e-3, held_out=0.2, mask_probability=0.3)
    metrics = pretrain_backbone(corpus, out, linker=EntityLinker(tiny_graph), backbone=str(tiny_backbone),
                                config=cfg, progress=False)
    assert metrics["held_out_mlm_loss_after"] < metrics["held_out_mlm_loss_before"]
    assert metrics["mentions_in_training_texts"] > 0 and metrics["entity_masking"]
    assert json.loads((out / "pretrain_metrics.json").read_text())["train_texts"] == metrics["train_texts"]
    model = KnowledgeAwareClassifier.from_backbone(str(out), ["a", "b"], use_knowledge=False)
    from transformers import AutoModel

    adapted = AutoModel.from_pretrained(str(out))
    original = AutoModel.from_pretrained(str(tiny_backbone))
    name = "embeddings.word_embeddings.weight"
    torch.testing.assert_close(model.encoder.state_dict()[name], adapted.state_dict()[name])
    assert not torch.equal(adapted.state_dict()[name], original.state_dict()[name])  # it did adapt


def test_pretrain_cli_and_bad_corpus(tiny_backbone, tiny_ttl_session, tmp_path, capsys):
    from kgenhance.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join((CARDIO + NEURO) * 2) + "\n")
    code = main(["-q", "pretrain", "--corpus", str(corpus), "-o", str(tiny_ttl_session), "--backbone",
                 str(tiny_backbone), "--out", str(tmp_path / "b"), "--batch-size", "8"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mentions_in_training_texts"] > 0 and (tmp_path / "b" / "config.json").is_file()
    with pytest.raises(DataError, match="at least 2"):
        pretrain_backbone(["only one text"], tmp_path / "c", backbone=str(tiny_backbone), progress=False)
    assert not (tmp_path / "c").exists()
