"""kgenhance.train: data loading, overfit → save → reload → same predictions, LoRA, metrics."""

from __future__ import annotations

import json

import pytest
import torch

from kgenhance.encode import EncoderConfig
from kgenhance.errors import ConfigError, DataError, ModelError
from kgenhance.model import KnowledgeAwareClassifier
from kgenhance.train import TrainingConfig, classification_metrics, load_examples, train_classifier

from conftest import write_csv

FAST = dict(epochs=25, batch_size=8, learning_rate=2e-3, head_learning_rate=5e-3, warmup_ratio=0.0, device="cpu")


def test_load_examples_columns_and_errors(tmp_path):
    path = write_csv(tmp_path / "d.csv", [("a text", "x"), ("multi\nline, \"quoted\"", "y")], header=("body", "cls"))
    ex = load_examples(path, "body", "cls")
    assert ex.texts == ["a text", 'multi\nline, "quoted"'] and ex.labels == ["x", "y"]
    with pytest.raises(DataError, match="no column 'text'"):
        load_examples(path)
    with pytest.raises(DataError, match="no such file"):
        load_examples(tmp_path / "missing.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_examples(tmp_path / "e.csv")
    jl = tmp_path / "d.jsonl"
    jl.write_text('{"text": "one", "label": 1}\n{"text": "two", "label": 0}\n')
    assert load_examples(jl).labels == ["1", "0"]
    assert len(load_examples([{"text": "a", "label": "x"}] * 10).subset(3, seed=0)) == 3


def test_metrics_by_hand():
    m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert m["accuracy"] == 0.75
    assert m["per_label"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


@pytest.fixture(scope="module")
def trained(tiny_graph, tiny_backbone, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "model"
    train, val = tiny_data
    result = train_classifier(
        train, val, out, graph=tiny_graph, backbone=str(tiny_backbone),
        config=TrainingConfig(**FAST, seed=3),
        encoder_config=EncoderConfig(dim=16, epochs=10, eval_every=5, negatives=8, device="cpu"),
        progress=False,
    )
    return result, out


def test_overfit_save_reload_same_predictions(trained, tiny_data):
    result, out = trained
    assert result.metrics["accuracy"] == 1.0, result.metrics["history"]
    texts = load_examples(tiny_data[1]).texts
    before = result.model.predict(texts, explain=True)
    back = KnowledgeAwareClassifier.from_pretrained(out)
    after = back.predict(texts, explain=True)
    assert [p.label for p in before] == [p.label for p in after]
    for p, q in zip(before, after):
        assert max(abs(p.probabilities[k] - q.probabilities[k]) for k in p.probabilities) < 1e-5
        assert [e.weight for e in p.entities] == pytest.approx([e.weight for e in q.entities], abs=1e-5)
    assert any(p.entities for p in after)


def test_metrics_file(trained):
    result, out = trained
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["accuracy"] == result.metrics["accuracy"]
    assert saved["use_knowledge"] is True and saved["best_epoch"] >= 1
    assert len(saved["history"]) == FAST["epochs"]
    assert saved["linking"]["train"]["texts_with_mentions"] == 1.0
    assert saved["entity_encoder"]["entities"] > 0
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json",
                                                "knowledge_graph.kg", "linker.json", "metrics.json",
                                                "metrics.jsonl", "training_curves.png"}
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records == result.log
    epochs = [r for r in records if r["type"] == "epoch"]
    steps = [r for r in records if r["type"] == "step"]
    assert [r["epoch"] for r in epochs] == list(range(1, FAST["epochs"] + 1))
    assert [{k: r[k] for k in ("accuracy", "macro_f1", "train_loss")} for r in epochs] == [
        {k: h[k] for k in ("accuracy", "macro_f1", "train_loss")} for h in saved["history"]]
    per_epoch = -(-saved["train_examples"] // FAST["batch_size"])
    assert epochs[-1]["step"] == per_epoch * FAST["epochs"]
    # the last step of every epoch is logged, and the step counter only goes up
    assert {r["step"] for r in steps} >= {per_epoch * e for e in range(1, FAST["epochs"] + 1)}
    assert [r["step"] for r in steps] == sorted({r["step"] for r in steps})
    assert all(r["loss"] > 0 and r["learning_rate"] >= 0 for r in steps)
    assert (out / "training_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_baseline_and_lora(tiny_backbone, tiny_data, tiny_graph, tmp_path):
    train, val = tiny_data
    base = train_classifier(train, val, tmp_path / "base", use_knowledge=False, backbone=str(tiny_backbone),
                            config=TrainingConfig(**{**FAST, "epochs": 3}), progress=False)
    assert not hasattr(base.model, "knowledge")
    assert base.metrics["parameters"]["trainable"] == base.metrics["parameters"]["total"]
    assert base.metrics["parameters"]["encoder_trainable"] == base.metrics["parameters"]["encoder"]
    lora = train_classifier(
        train, val, tmp_path / "lora", graph=tiny_graph, backbone=str(tiny_backbone),
        config=TrainingConfig(**{**FAST, "epochs": 3}, lora=True, lora_r=4),
        encoder_config=EncoderConfig(dim=16, epochs=2, eval_every=1, negatives=8, device="cpu"), progress=False,
    )
    params = lora.metrics["parameters"]
    # only the adapters train inside the encoder (rank 4 on query/value of 2 layers: 4 * (32 + 32) * 4)
    assert params["encoder_trainable"] == 4 * 4 * (32 + 32)
    assert params["encoder_trainable"] < params["encoder"] / 10
    reloaded = KnowledgeAwareClassifier.from_pretrained(tmp_path / "lora")
    assert not any("lora" in n for n, _ in reloaded.named_parameters())  # merged into the base weights
    texts = load_examples(val).texts
    assert [p.label for p in reloaded.predict(texts)] == [p.label for p in lora.model.predict(texts)]


def test_lora_adapter_is_small_and_reloads_onto_the_base(tiny_backbone, tiny_data, tiny_graph, tmp_path, capsys):
    from kgenhance.cli import main
    from kgenhance.model import is_adapter, load_adapter

    train, val = tiny_data
    res = train_classifier(
        train, val, tmp_path / "adapter", graph=tiny_graph, backbone=str(tiny_backbone),
        config=TrainingConfig(**{**FAST, "epochs": 2}, lora=True, lora_r=4, lora_adapter=True),
        encoder_config=EncoderConfig(dim=16, epochs=2, eval_every=1, negatives=8, device="cpu"),
        model_options={"hierarchy_dim": 4, "knowledge_gate": True, "knowledge_dim": 16, "concept_bag": True},
        progress=False,
    )
    out = tmp_path / "adapter"
    from safetensors import safe_open

    with safe_open(str(out / "adapter_model.safetensors"), framework="pt") as fh:
        keys = list(fh.keys())
    encoder_keys = [k for k in keys if ".encoder." in k]
    assert encoder_keys and all("lora_" in k for k in encoder_keys)  # no base encoder weight is copied
    assert any(".knowledge." in k for k in keys) and any(".hierarchy." in k for k in keys)
    assert any(".concept_bag." in k for k in keys)
    assert is_adapter(out) and (out / "adapter_model.safetensors").is_file()
    assert not (out / "model.safetensors").exists() and (out / "metrics.json").is_file()
    res.model.save_pretrained(tmp_path / "full")
    adapter_bytes = (out / "adapter_model.safetensors").stat().st_size
    assert adapter_bytes < (tmp_path / "full" / "model.safetensors").stat().st_size / 2
    back = load_adapter(out)  # the base encoder comes from the recorded backbone directory
    assert not any("lora" in n for n, _ in back.named_parameters())
    torch.testing.assert_close(back.hierarchy.ancestors, res.model.hierarchy.ancestors)
    torch.testing.assert_close(back.concept_bag.weight, res.model.concept_bag.weight)
    assert float(back.concept_bag.weight.detach().abs().sum()) > 0  # trained, and the trained weights came back
    torch.testing.assert_close(back.concept_bag.ancestors, res.model.concept_bag.ancestors)
    texts = load_examples(val).texts
    want = res.model.predict(texts)
    got = back.predict(texts)
    assert [p.label for p in got] == [p.label for p in want]
    for p, q in zip(got, want):
        for k in p.probabilities:
            assert p.probabilities[k] == pytest.approx(q.probabilities[k], abs=1e-5)
    # the CLI's predict reads an adapter directory as it reads a model directory
    assert main(["-q", "predict", "--model", str(out), "--text", texts[0], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["label"] == want[0].label
    with pytest.raises(ModelError, match="not a kgenhance LoRA adapter"):
        load_adapter(tmp_path / "full")


def test_failed_training_leaves_out_dir_untouched(tiny_backbone, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("previous model")
    bad = write_csv(tmp_path / "bad.csv", [("only one label", "x"), ("still one", "x")])
    with pytest.raises(DataError, match="two distinct labels"):
        train_classifier(bad, bad, out, use_knowledge=False, backbone=str(tiny_backbone), progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    with pytest.raises(ConfigError, match="needs a graph"):
        train_classifier(bad, bad, out, backbone=str(tiny_backbone), progress=False)


def test_parameter_groups_give_each_part_its_learning_rate(tiny_backbone, tiny_graph):
    from kgenhance.encode import EntityEmbeddings
    from kgenhance.train.trainer import _param_groups

    emb = EntityEmbeddings(torch.randn(len(tiny_graph), 8), tiny_graph.content_hash)
    model = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["a", "b"], emb, graph=tiny_graph,
                                                   hierarchy_dim=4)
    cfg = TrainingConfig(learning_rate=5e-5, head_learning_rate=1e-3, knowledge_learning_rate=2e-4)
    lr_of = {id(p): g["lr"] for g in _param_groups(model, cfg) for p in g["params"]}
    assert lr_of[id(model.classifier.weight)] == 1e-3
    assert lr_of[id(model.knowledge.up.weight)] == 2e-4 and lr_of[id(model.hierarchy.table.weight)] == 2e-4
    assert lr_of[id(model.encoder.embeddings.word_embeddings.weight)] == 5e-5
    assert id(model.entity_embeddings.weight) not in lr_of  # frozen
    default = {id(p): g["lr"] for g in _param_groups(model, TrainingConfig()) for p in g["params"]}
    assert default[id(model.knowledge.up.weight)] == TrainingConfig().head_learning_rate
    bagged = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["a", "b"], emb, graph=tiny_graph,
                                                    concept_bag=True)
    groups = _param_groups(bagged, TrainingConfig(concept_learning_rate=3e-2))
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert lr_of[id(bagged.concept_bag.weight)] == 3e-2 and lr_of[id(bagged.classifier.weight)] == 1e-3
    assert groups[-1]["lr"] == 1e-3  # the head's rate comes last (the training log reads it there)
    decay_of = {id(p): g["weight_decay"] for g in _param_groups(bagged, TrainingConfig(concept_weight_decay=0.5))
                for p in g["params"]}
    assert decay_of[id(bagged.concept_bag.weight)] == 0.5  # the bag's own decay
    assert decay_of[id(bagged.classifier.weight)] == TrainingConfig().weight_decay == 0.01
    decay_of = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    assert decay_of[id(bagged.concept_bag.weight)] == 0.01  # default: the model's
    with pytest.raises(ConfigError, match="concept_weight_decay"):
        TrainingConfig(concept_weight_decay=-0.1).validate()
    for name in ("learning_rate", "head_learning_rate", "knowledge_learning_rate", "concept_learning_rate"):
        with pytest.raises(ConfigError, match=name):
            TrainingConfig(**{name: 0.0}).validate()


def test_new_modules_gradients_are_clipped_apart_from_the_baselines(tiny_backbone, tiny_graph):
    from kgenhance.encode import EntityEmbeddings
    from kgenhance.train.trainer import _clip_sets

    emb = EntityEmbeddings(torch.randn(len(tiny_graph), 8), tiny_graph.content_hash)
    torch.manual_seed(0)
    model = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["a", "b"], emb, graph=tiny_graph,
                                                   concept_bag=True)
    base = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["a", "b"], use_knowledge=False)
    sets = _clip_sets(model)
    names = {id(p): n for n, p in model.named_parameters()}
    assert [sorted(names[id(p)] for p in s) for s in sets][0] == sorted(n for n, _ in base.named_parameters())
    assert {names[id(p)] for p in sets[-1]} == {"concept_bag.weight"}
    assert len(sets) == 3 and any("knowledge.up.weight" in {names[id(p)] for p in s} for s in sets)
    (only_base,) = _clip_sets(base)  # the baseline is clipped as one set, as before
    assert len(only_base) == sum(1 for p in base.parameters() if p.requires_grad)

    # a huge gradient in the concept bag does not shrink the encoder's clipped gradient
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e-3)
    model.concept_bag.weight.grad.fill_(1e3)
    for params in sets:
        torch.nn.utils.clip_grad_norm_(params, 1.0)
    encoder_grad = model.encoder.embeddings.word_embeddings.weight.grad
    baseline_norm = torch.sqrt(sum((torch.full_like(p, 1e-3) ** 2).sum() for p in sets[0]))
    expected = 1e-3 * min(1.0, 1.0 / float(baseline_norm))
    torch.testing.assert_close(encoder_grad, torch.full_like(encoder_grad, expected))
    assert float(model.concept_bag.weight.grad.norm()) == pytest.approx(1.0, rel=1e-4)
