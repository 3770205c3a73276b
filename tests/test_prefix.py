"""Prefix tuning: trainable key/value prefixes on a frozen encoder (BERT and RoBERTa)."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_backbone
from transformers import AutoModel

from kgenhance.encode import EncoderConfig
from kgenhance.errors import ConfigError
from kgenhance.model import KnowledgeAwareClassifier, KnowledgeCollator
from kgenhance.model.prefix import PrefixEncoder, cache_argument, text_positions
from kgenhance.train import TrainingConfig, load_examples, train_classifier


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_a_masked_out_prefix_changes_nothing(tmp_path, model_type):
    """With the prefix hidden by the mask, the encoder computes exactly what it does alone:
    the cache, the mask extension and the unshifted positions are right."""
    path = make_tiny_backbone(tmp_path / model_type, model_type)
    enc = AutoModel.from_pretrained(path).eval()
    cfg = enc.config
    ids = torch.randint(5, cfg.vocab_size, (2, 7))
    ids[1, 5:] = cfg.pad_token_id
    mask = ids.ne(cfg.pad_token_id).long()
    prefix = PrefixEncoder(3, cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, 16)
    arg = cache_argument(enc)
    with torch.no_grad():
        alone = enc(input_ids=ids, attention_mask=mask).last_hidden_state
        hidden = enc(input_ids=ids, attention_mask=torch.cat([torch.zeros(2, 3, dtype=torch.long), mask], 1),
                     position_ids=text_positions(ids, cfg), **{arg: prefix.cache(2, cfg)}).last_hidden_state
        seen = enc(input_ids=ids, attention_mask=torch.cat([torch.ones(2, 3, dtype=torch.long), mask], 1),
                   position_ids=text_positions(ids, cfg), **{arg: prefix.cache(2, cfg)}).last_hidden_state
    torch.testing.assert_close(hidden[mask.bool()], alone[mask.bool()], atol=1e-5, rtol=1e-4)
    assert float((seen - alone).abs().max()) > 1e-4  # a visible prefix does change the states


def test_prefix_model_freezes_the_encoder_and_trains_the_prefix(tiny_backbone, tiny_data, tiny_graph, tmp_path):
    train, val = tiny_data
    before = AutoModel.from_pretrained(tiny_backbone).state_dict()
    res = train_classifier(
        train, val, tmp_path / "prefix", graph=tiny_graph, backbone=str(tiny_backbone),
        config=TrainingConfig(epochs=3, batch_size=8, device="cpu", seed=0, head_learning_rate=5e-3, prefix_length=4),
        encoder_config=EncoderConfig(dim=16, epochs=2, eval_every=1, negatives=8, device="cpu"),
        model_options={"prefix_projection": 16}, progress=False,
    )
    model = res.model
    params = res.metrics["parameters"]
    assert params["encoder_trainable"] == 0 and all(p.requires_grad for p in model.prefix.parameters())
    assert not any(p.requires_grad for p in model.encoder.parameters())
    after = model.encoder.state_dict()
    shared = [k for k in after if k in before]
    assert len(shared) > 10 and all(torch.equal(before[k], after[k].cpu()) for k in shared)  # the encoder did not move
    assert res.metrics["history"][-1]["train_loss"] < res.metrics["history"][0]["train_loss"]
    back = KnowledgeAwareClassifier.from_pretrained(tmp_path / "prefix")
    assert back.prefix is not None and back.config.prefix_length == 4
    texts = load_examples(val).texts
    a = [p.probabilities for p in model.predict(texts[:4])]
    b = [p.probabilities for p in back.predict(texts[:4])]
    for x, y in zip(a, b):
        assert x == pytest.approx(y, abs=1e-5)


def test_prefix_with_visibility_mask_and_unsupported_backbone(tiny_graph, tmp_path):
    from kgenhance.link import EntityLinker

    from test_model import fake_embeddings, texts

    emb = fake_embeddings(tiny_graph)
    bert = make_tiny_backbone(tmp_path / "bert")
    model = KnowledgeAwareClassifier.from_backbone(str(bert), ["a", "b"], emb, prefix_length=2, prefix_projection=8,
                                                   entity_text=2, entity_text_visibility=True)
    model.attach(linker=EntityLinker.from_graph(tiny_graph)).eval()
    batch = KnowledgeCollator.for_model(model)(texts())
    logits = model(**batch.tensors).logits
    assert torch.isfinite(logits).all()
    logits.sum().backward()  # the gradient reaches the prefixes, not the frozen encoder
    assert float(model.prefix.embedding.weight.grad.abs().sum()) > 0
    assert all(p.grad is None for p in model.encoder.parameters())
    distil = make_tiny_backbone(tmp_path / "distil", "distilbert")
    with pytest.raises(ConfigError, match="prefix tuning"):
        KnowledgeAwareClassifier.from_backbone(str(distil), ["a", "b"], emb, prefix_length=2)


def test_prefix_tuning_from_the_cli_applies_to_both_models(capsys, tiny_ttl, tiny_backbone, tiny_data, tmp_path):
    import json

    from test_cli import run

    train, val = tiny_data
    code, out, err = run(capsys, "-q", "compare", "-o", str(tiny_ttl), "--train", str(train), "--validation",
                         str(val), "--out", str(tmp_path / "c"), "--backbone", str(tiny_backbone), "--seeds", "1",
                         "--epochs", "1", "--batch-size", "8", "--encoder-epochs", "2", "--device", "cpu",
                         "--prefix-length", "3")
    assert code == 0, err
    assert json.loads((tmp_path / "c" / "compare.json").read_text())["settings"]["prefix_length"] == 3
    runs = sorted((tmp_path / "c" / "runs" / "all").iterdir())
    assert len(runs) == 2
    for run_dir in runs:
        params = json.loads((run_dir / "metrics.json").read_text())["parameters"]
        assert params["encoder_trainable"] == 0  # the encoder is frozen in both models
    with pytest.raises(ConfigError, match="LoRA or prefix"):
        TrainingConfig(lora=True, prefix_length=2).validate()
