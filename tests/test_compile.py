"""torch.compile and the knowledge-aware model: no data-dependent graph breaks, compiled knowledge
modules compute what the eager ones do, and a batch without mentions leaves the layer a no-op."""

from __future__ import annotations

import pytest
import torch

from kgenhance.model import KnowledgeAttention, KnowledgeAwareClassifier, KnowledgeCollator
from kgenhance.model.mention_fusion import MentionFusion

from conftest import tiny_knowledge_model
from test_model import layer_inputs

VARIANTS = {
    "kar": {"fusion": "kar"},
    "ernie + gate": {"fusion": "ernie", "knowledge_gate": True},
    "kar + gate + hierarchy + concept bag": {"fusion": "kar", "knowledge_gate": True, "hierarchy_dim": 8,
                                             "concept_bag": True},
}
TEXTS = ["the patient had atrial fibrillation and seizures", "no findings"]


def _model(tiny_graph, tiny_backbone, **options) -> KnowledgeAwareClassifier:
    model = tiny_knowledge_model(tiny_graph, tiny_backbone, **options)
    torch.nn.init.normal_(model.knowledge.up.weight, std=0.5)  # a layer that changes the hidden states
    if model.concept_bag is not None:
        torch.nn.init.normal_(model.concept_bag.weight, std=0.5)
    return model


@pytest.mark.parametrize("layer", ["kar", "ernie"])
def test_layer_without_mentions_leaves_hidden_states_exactly(layer):
    module = (KnowledgeAttention(16, 8, 12, num_heads=3, dropout=0.0, gate=True) if layer == "kar"
              else MentionFusion(16, 8, 12, dropout=0.0, gate=True))
    torch.nn.init.normal_(module.up.weight, std=0.5)
    torch.nn.init.normal_(module.gate.proj.weight, std=0.5)
    hidden, mask, spans, cand, priors, cmask = layer_inputs(mentions=False)
    out, info = module(hidden, mask, spans, cand, priors, cmask)
    assert torch.equal(out, hidden)  # what an accelerator's always-run layer must give
    assert float(info.mention_weights.detach().abs().sum()) == 0.0
    assert float(info.candidate_weights.detach().abs().sum()) == 0.0
    hidden, mask, spans, cand, priors, cmask = layer_inputs(mentions=True)
    assert not torch.equal(module(hidden, mask, spans, cand, priors, cmask)[0], hidden)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_training_step_traces_as_one_graph(tiny_graph, tiny_backbone, variant):
    model = _model(tiny_graph, tiny_backbone, **VARIANTS[variant]).train()
    batch = KnowledgeCollator.for_model(model, model.linker)(TEXTS, labels=[0, 1]).tensors
    assert int((batch["entity_spans"][..., 0] >= 0).sum()) >= 2
    explained = torch._dynamo.explain(model)(**batch)
    assert explained.graph_break_count == 0, [r.reason for r in explained.break_reasons]
    assert explained.graph_count == 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_compiled_knowledge_matches_eager_and_reloads(tiny_graph, tiny_backbone, variant, tmp_path):
    torch._dynamo.reset()
    model = _model(tiny_graph, tiny_backbone, **VARIANTS[variant]).eval()
    collate = KnowledgeCollator.for_model(model, model.linker)
    batches = [collate(TEXTS, labels=[0, 1]).tensors,
               collate(TEXTS[:1] * 3, labels=[0, 0, 0]).tensors,  # another batch shape: no recompiling error
               collate(["no findings", "nothing here"], labels=[1, 1]).tensors]  # no mention at all
    with torch.no_grad():
        eager = [model(**b).logits for b in batches]
    model.compile_knowledge()
    with torch.no_grad():
        compiled = [model(**b).logits for b in batches]
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    model.train()
    out = model(**batches[0])
    out.loss.backward()
    assert float(model.knowledge.down.weight.grad.abs().sum()) > 0  # gradients flow through the compiled layer
    model.save_pretrained(tmp_path / "m")
    back = KnowledgeAwareClassifier.from_pretrained(tmp_path / "m").eval()
    assert set(back.state_dict()) == set(model.state_dict())  # compiling renamed nothing
    with torch.no_grad():
        torch.testing.assert_close(back(**batches[0]).logits, eager[0], atol=1e-5, rtol=1e-4)
