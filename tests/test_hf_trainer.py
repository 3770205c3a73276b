"""kgenhance.train.hf: the Trainer's data collator, training through transformers.Trainer, 2-process DDP (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kgenhance.encode import EntityEmbeddings
from kgenhance.link import EntityLinker
from kgenhance.model import KnowledgeAwareClassifier, KnowledgeCollator
from kgenhance.train import load_examples
from kgenhance.train.hf import KnowledgeDataCollator, compute_classification_metrics, knowledge_trainer

ROOT = Path(__file__).resolve().parents[1]


def tiny_model(tiny_graph, tiny_backbone, **options):
    emb = EntityEmbeddings(torch.randn(len(tiny_graph), 8, generator=torch.Generator().manual_seed(0)),
                           tiny_graph.content_hash)
    torch.manual_seed(0)
    model = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["cardio", "neuro"], emb, graph=tiny_graph,
                                                   knowledge_dim=16, **options)
    return model.attach(linker=EntityLinker(tiny_graph))


def rows(path):
    ex = load_examples(path)
    return [{"text": t, "label": y} for t, y in zip(ex.texts, ex.labels)]


def test_collator_links_aligns_and_maps_labels(tiny_graph, tiny_backbone, monkeypatch):
    model = tiny_model(tiny_graph, tiny_backbone)
    collator = KnowledgeDataCollator(model)
    calls = []
    original = collator.linker.link
    monkeypatch.setattr(collator.linker, "link", lambda text: calls.append(text) or original(text))
    features = [{"text": "the patient had atrial fibrillation", "label": "cardio"},
                {"text": "recurrent seizures in the child", "label": "neuro"}]
    batch = collator(features)
    assert len(calls) == 2
    reference = KnowledgeCollator(model.tokenizer, model.linker)([f["text"] for f in features], labels=[0, 1]).tensors
    calls.clear()
    assert set(batch) == set(reference)
    for key in reference:
        assert torch.equal(batch[key], reference[key]), key
    assert batch["labels"].tolist() == [0, 1]
    assert int((batch["entity_spans"][0, :, 0] >= 0).sum()) >= 2  # "patient", "atrial fibrillation"
    collator(features)
    assert calls == []  # the second epoch reads the cached mentions
    assert collator([{"text": "seizures", "labels": 1}])["labels"].tolist() == [1]
    with pytest.raises(ValueError, match="not one of the model's labels"):
        collator([{"text": "x", "label": "dermatology"}])


def test_metrics_function():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]).numpy()
    scores = compute_classification_metrics((logits, [0, 1, 1]))
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert 0 < scores["macro_f1"] < 1


def test_trainer_trains_the_knowledge_layer(tiny_graph, tiny_backbone, tiny_data, tmp_path):
    from transformers import TrainingArguments

    model = tiny_model(tiny_graph, tiny_backbone)
    before = model.knowledge.up.weight.detach().clone()
    args = TrainingArguments(output_dir=str(tmp_path / "t"), max_steps=4, per_device_train_batch_size=8,
                             learning_rate=1e-3, report_to=[], save_strategy="no", use_cpu=True,
                             gradient_accumulation_steps=2, disable_tqdm=True)
    train, val = tiny_data
    trainer = knowledge_trainer(model, args, rows(train), rows(val))
    out = trainer.train()
    assert trainer.state.global_step == 4 and out.training_loss > 0
    assert not torch.equal(model.knowledge.up.weight.detach(), before)  # knowledge reached the loss
    assert not model.entity_embeddings.weight.requires_grad
    scores = trainer.evaluate()
    assert {"eval_accuracy", "eval_macro_f1", "eval_loss"} <= set(scores)


def test_trainer_gives_each_part_its_learning_rate(tiny_graph, tiny_backbone, tiny_data, tmp_path):
    from transformers import TrainingArguments

    model = tiny_model(tiny_graph, tiny_backbone, concept_bag=True)
    args = TrainingArguments(output_dir=str(tmp_path / "t"), max_steps=2, per_device_train_batch_size=8,
                             learning_rate=2e-5, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
                             lr_scheduler_type="constant")
    train, val = tiny_data
    trainer = knowledge_trainer(model, args, rows(train), rows(val), knowledge_learning_rate=1e-4,
                                concept_learning_rate=5e-2, concept_weight_decay=0.2)
    trainer.train()
    lr_of = {id(p): g["lr"] for g in trainer.optimizer.param_groups for p in g["params"]}
    assert lr_of[id(model.encoder.embeddings.word_embeddings.weight)] == 2e-5
    assert lr_of[id(model.classifier.weight)] == 1e-3 and lr_of[id(model.knowledge.up.weight)] == 1e-4
    assert lr_of[id(model.concept_bag.weight)] == 5e-2
    decay_of = {id(p): g["weight_decay"] for g in trainer.optimizer.param_groups for p in g["params"]}
    assert decay_of[id(model.concept_bag.weight)] == 0.2 and decay_of[id(model.classifier.weight)] == 0.0
    assert float(model.concept_bag.weight.detach().abs().sum()) > 0  # the concept bag learned
    plain = knowledge_trainer(tiny_model(tiny_graph, tiny_backbone), args, rows(train), head_learning_rate=None)
    plain.create_optimizer()
    assert {g["lr"] for g in plain.optimizer.param_groups} == {2e-5}  # a plain Trainer's single rate


def test_trainer_clips_new_modules_apart_from_the_baseline(tiny_graph, tiny_backbone, tiny_data, tmp_path):
    from transformers import TrainingArguments

    from kgenhance.train.trainer import _clip_sets

    model = tiny_model(tiny_graph, tiny_backbone, concept_bag=True)
    args = TrainingArguments(output_dir=str(tmp_path / "t"), max_steps=1, report_to=[], save_strategy="no",
                             use_cpu=True, disable_tqdm=True, max_grad_norm=1.0)
    train, _ = tiny_data
    trainer = knowledge_trainer(model, args, rows(train))
    for p in model.parameters():
        p.grad = torch.full_like(p, 1e-3) if p.requires_grad else None
    model.concept_bag.weight.grad.fill_(1e3)  # a huge bag gradient
    sets = _clip_sets(model)
    total = torch.sqrt(sum((p.grad.double() ** 2).sum() for s in sets for p in s))
    norm = trainer._clip_grad_norm(model)
    assert float(norm) == pytest.approx(float(total), rel=1e-5)  # reported: the pre-clip norm of all gradients
    baseline_norm = torch.sqrt(sum((torch.full_like(p, 1e-3) ** 2).sum() for p in sets[0]))
    expected = 1e-3 * min(1.0, 1.0 / float(baseline_norm))  # the encoder's step as without the bag
    grad = model.encoder.embeddings.word_embeddings.weight.grad
    torch.testing.assert_close(grad, torch.full_like(grad, expected))
    assert float(model.concept_bag.weight.grad.norm()) == pytest.approx(1.0, rel=1e-4)
    plain = knowledge_trainer(tiny_model(tiny_graph, tiny_backbone, concept_bag=True), args, rows(train),
                              head_learning_rate=None)
    for p in plain.model.parameters():
        p.grad = torch.full_like(p, 1e-3) if p.requires_grad else None
    plain.model.concept_bag.weight.grad.fill_(1e3)
    plain._clip_grad_norm(plain.model)  # a plain Trainer's global clipping: the bag shrinks the encoder's step
    grad = plain.model.encoder.embeddings.word_embeddings.weight.grad
    assert float(grad.abs().max()) < expected / 100


def test_two_processes_gloo(tiny_ttl_session, tiny_backbone, tiny_data, tmp_path):
    """The distributed path: torchrun, 2 CPU processes, DDP over gloo, one model saved."""
    train, val = tiny_data
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KGENHANCE_CACHE": str(tmp_path / "cache")}
    import socket

    with socket.socket() as sock:  # a free port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port,
           str(ROOT / "examples" / "trainer_distributed.py"), "--ontology", str(tiny_ttl_session),
           "--train", str(train), "--validation", str(val), "--backbone", str(tiny_backbone), "--out", str(out),
           "--max-steps", "3", "--batch-size", "4", "--encoder-epochs", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["trainer_world_size"] == 2 and summary["steps"] == 3
    digests = {(out / f"weights-rank{r}.sha256").read_text() for r in (0, 1)}
    assert len(digests) == 1  # both processes ended with identical weights (gradients were all-reduced)
    assert "eval_macro_f1" in summary["scores"]
    back = KnowledgeAwareClassifier.from_pretrained(out / "model")
    assert back.config.use_knowledge and back.linker is not None
