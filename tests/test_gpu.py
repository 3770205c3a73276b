"""The knowledge-aware classifier on a CUDA GPU: every fusion variant agrees with the CPU,
bf16 training through our trainer and through `transformers.Trainer`. Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch

from kgenhance.encode import EncoderConfig
from kgenhance.model import KnowledgeAwareClassifier, KnowledgeCollator
from kgenhance.train import TrainingConfig, load_examples, train_classifier

from conftest import tiny_knowledge_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

VARIANTS = {
    "kar": {"fusion": "kar"},
    "kar + gate + hierarchy": {"fusion": "kar", "knowledge_gate": True, "hierarchy_dim": 8},
    "ernie": {"fusion": "ernie"},
    "kar + entity names + visibility": {"fusion": "kar", "entity_text": True, "entity_text_visibility": True},
    "kar + prefix": {"fusion": "kar", "prefix_length": 3},
}


def _model(tiny_graph, tiny_backbone, **options) -> KnowledgeAwareClassifier:
    return tiny_knowledge_model(tiny_graph, tiny_backbone, **options)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_gpu_forward_matches_cpu(tiny_graph, tiny_backbone, variant):
    model = _model(tiny_graph, tiny_backbone, **VARIANTS[variant]).eval()
    texts = ["the patient had atrial fibrillation and seizures", "recurrent seizures in the child"]
    batch = KnowledgeCollator.for_model(model, model.linker)(texts, labels=[0, 1]).tensors
    assert int((batch["entity_spans"][..., 0] >= 0).sum()) >= 2
    with torch.no_grad():
        cpu = model(**batch).logits
        gpu = model.to("cuda")(**{k: v.cuda() for k, v in batch.items()}).logits
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-3)


def test_trainer_trains_in_bf16_on_the_gpu(tiny_backbone, tiny_data, tiny_graph, tmp_path):
    train, val = tiny_data
    res = train_classifier(
        train, val, tmp_path / "gpu", graph=tiny_graph, backbone=str(tiny_backbone),
        config=TrainingConfig(epochs=4, batch_size=8, device="cuda", seed=0, head_learning_rate=5e-3),
        encoder_config=EncoderConfig(dim=16, epochs=2, eval_every=1, negatives=8, device="cuda"),
        progress=False,
    )
    assert res.metrics["device"].startswith("cuda") and res.metrics["settings"]["mixed_precision"]
    history = res.metrics["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    back = KnowledgeAwareClassifier.from_pretrained(tmp_path / "gpu")  # saved from the GPU, reloaded on the CPU
    texts = load_examples(val).texts[:4]
    for a, b in zip(res.model.predict(texts), back.predict(texts)):
        assert a.label == b.label


def test_hf_trainer_bf16_on_the_gpu(tiny_graph, tiny_backbone, tiny_data, tmp_path):
    from transformers import TrainingArguments

    from kgenhance.train.hf import knowledge_trainer

    model = _model(tiny_graph, tiny_backbone, knowledge_gate=True)
    before = model.knowledge.up.weight.detach().clone()
    args = TrainingArguments(output_dir=str(tmp_path / "t"), max_steps=4, per_device_train_batch_size=8,
                             learning_rate=1e-3, report_to=[], save_strategy="no", bf16=True, disable_tqdm=True)
    train, val = tiny_data

    def rows(path):
        ex = load_examples(path)
        return [{"text": t, "label": y} for t, y in zip(ex.texts, ex.labels)]

    trainer = knowledge_trainer(model, args, rows(train), rows(val))
    out = trainer.train()
    assert next(model.parameters()).device.type == "cuda"
    assert trainer.state.global_step == 4 and out.training_loss > 0
    assert not torch.equal(model.knowledge.up.weight.detach().cpu(), before.cpu())
    assert trainer.evaluate()["eval_macro_f1"] >= 0


def test_mention_detector_trains_and_detects_on_the_gpu(tiny_backbone, tmp_path):
    from kgenhance.link.detector import AnnotatedText, DetectorConfig, MentionDetector, train_mention_detector

    texts = ["the patient had seizures", "seizures in the child", "the adult had arrhythmia", "arrhythmia was treated"]
    data = [AnnotatedText(t, [(t.index(w), t.index(w) + len(w), "D") for w in ("seizures", "arrhythmia") if w in t])
            for t in texts]
    cfg = DetectorConfig(backbone=str(tiny_backbone), epochs=40, learning_rate=3e-3, head_learning_rate=3e-3,
                         max_length=32, stride=8, device="cuda", seed=0)
    det = train_mention_detector(data * 4, cfg, progress=False)
    assert next(det.parameters()).device.type == "cuda"
    found = det.detect(["the child had arrhythmia and seizures"])[0]
    assert [(s.start, s.end) for s in found] == [(14, 24), (29, 37)]
    det.save(tmp_path / "det")
    back = MentionDetector.load(tmp_path / "det")  # auto: onto the GPU
    assert next(back.parameters()).device.type == "cuda"
    assert back.detect(["the child had arrhythmia and seizures"]) == [found]
    cpu = MentionDetector.load(tmp_path / "det", device="cpu")
    assert [(s.start, s.end) for s in cpu.detect(["the child had arrhythmia and seizures"])[0]] == [(14, 24), (29, 37)]


def test_compiled_knowledge_on_the_gpu_matches_eager_in_bf16(tiny_graph, tiny_backbone):
    model = _model(tiny_graph, tiny_backbone, knowledge_gate=True, hierarchy_dim=8, concept_bag=True).cuda()
    torch.nn.init.normal_(model.knowledge.up.weight, std=0.5)
    torch.nn.init.normal_(model.concept_bag.weight, std=0.5)
    collate = KnowledgeCollator.for_model(model, model.linker)
    batches = [{k: v.cuda() for k, v in collate(texts, labels=[0] * len(texts)).tensors.items()}
               for texts in (["the patient had atrial fibrillation and seizures", "recurrent seizures in the child"],
                             ["no findings"] * 3)]  # the second batch has no mention: the layer runs, adds nothing
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        eager = [model(**b).logits.float() for b in batches]
        model.compile_knowledge()
        compiled = [model(**b).logits.float() for b in batches]
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(a, b, atol=3e-2, rtol=3e-2)
    model.train()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(**batches[0])
    out.loss.backward()
    assert float(model.knowledge.down.weight.grad.abs().sum()) > 0


def test_knowledge_modules_leave_the_baselines_cuda_stream_alone(tiny_graph, tiny_backbone):
    kmodel = _model(tiny_graph, tiny_backbone, fusion="kar", concept_bag=True, concept_bag_dropout=0.5).cuda().train()
    torch.manual_seed(0)
    base = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["cardio", "neuro"], use_knowledge=False)
    base = base.cuda().train()
    texts = ["the patient had atrial fibrillation and seizures", "recurrent seizures in the child"]
    batch = {k: v.cuda() for k, v in KnowledgeCollator.for_model(kmodel, kmodel.linker)(texts, labels=[0, 1]).tensors.items()}
    torch.cuda.manual_seed(11)
    out_k = kmodel(**batch)
    after_k = torch.cuda.get_rng_state()
    torch.cuda.manual_seed(11)
    out_b = base(**{k: v for k, v in batch.items() if not k.startswith("entity_")})
    assert torch.equal(after_k, torch.cuda.get_rng_state())  # the knowledge modules drew from their own CUDA state
    assert "cuda:0" in kmodel.knowledge_rng.states
    torch.testing.assert_close(out_k.logits, out_b.logits)  # so the backbone's dropout masks are the baseline's
