"""Explanations: attributions, ablation and swap deltas, paths, and batch independence."""

from __future__ import annotations

import math

import pytest
import torch

from kgenhance.link import EntityLinker
from kgenhance.model import KnowledgeAwareClassifier, KnowledgeCollator
from kgenhance.model.attribution import ablation_effects, gradient_attribution

from test_model import fake_embeddings

TEXT = "the patient had atrial fibrillation and seizures"


@pytest.fixture(scope="module")
def model(tiny_graph, tiny_backbone):
    emb = fake_embeddings(tiny_graph)
    linker = EntityLinker.from_graph(tiny_graph)
    torch.manual_seed(3)
    m = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["a", "b"], emb, knowledge_layer=1)
    m.attach(linker=linker)
    torch.nn.init.normal_(m.knowledge.up.weight, std=0.5)  # make the knowledge layer matter
    torch.nn.init.normal_(m.knowledge.out.weight, std=0.5)
    torch.nn.init.normal_(m.knowledge.out.bias, std=0.5)  # trained biases are not zero
    torch.nn.init.normal_(m.knowledge.up.bias, std=0.5)
    m.eval()
    return m


def _batch(model, texts):
    collator = KnowledgeCollator(model.tokenizer, model.linker, max_length=64)
    return collator(texts)


def _prob(model, tensors, cls):
    with torch.no_grad():
        return float(torch.softmax(model(**tensors).logits, -1)[0, cls])


def test_a_text_without_mentions_is_predicted_the_same_alone_or_in_a_mixed_batch(model):
    alone = model.predict(["no findings"])[0]
    mixed = model.predict([TEXT, "no findings"])[1]
    for k in alone.probabilities:
        assert alone.probabilities[k] == pytest.approx(mixed.probabilities[k], abs=1e-6)


def test_ablation_delta_is_the_probability_change_without_the_mention(model):
    pred = model.predict([TEXT], explain=True)[0]
    cls = model.config.label2id[pred.label]
    assert [e.label for e in pred.entities] == ["patient", "atrial fibrillation", "seizure"]
    tensors = _batch(model, [TEXT]).tensors
    full = _prob(model, tensors, cls)
    assert full == pytest.approx(pred.probabilities[pred.label], abs=1e-6)
    for k, evidence in enumerate(pred.entities):
        ablated = {n: v.clone() for n, v in tensors.items()}
        ablated["entity_spans"][0, k] = -1
        ablated["entity_ids"][0, k] = 0
        expected = _prob(model, ablated, cls) - full
        assert evidence.ablation_delta == pytest.approx(expected, abs=1e-5)
    assert any(abs(e.ablation_delta) > 1e-4 for e in pred.entities)  # the knowledge matters here


def test_integrated_gradients_add_up_to_the_effect_of_zeroing_the_embeddings(model):
    tensors = _batch(model, [TEXT]).tensors
    with torch.no_grad():
        logits = model(**tensors).logits
    target = logits.argmax(-1)
    attr = gradient_attribution(model, tensors, target, steps=64)
    zeros = torch.zeros_like(model.entity_embeddings(tensors["entity_ids"]))
    with torch.no_grad():
        log_full = torch.log_softmax(logits, -1)[0, target[0]]
        log_zero = torch.log_softmax(model(**tensors, entity_embeds=zeros).logits, -1)[0, target[0]]
    assert float(attr.sum()) == pytest.approx(float(log_full - log_zero), rel=0.02, abs=1e-4)
    assert float(attr[0].abs().sum()) > 0
    # gradient × input is the one-step version: same sign pattern is not guaranteed, but it is finite
    gxi = gradient_attribution(model, tensors, target, steps=1)
    assert gxi.shape == attr.shape and bool(torch.isfinite(gxi).all())


def test_integrated_gradients_cover_the_concept_bag(tiny_graph, tiny_backbone):
    """With the knowledge layer at the identity, all of the entities' effect is their concept-bag
    vote: the attributions must add up to it (they are zero without the presence path)."""
    emb = fake_embeddings(tiny_graph)
    torch.manual_seed(3)
    m = KnowledgeAwareClassifier.from_backbone(str(tiny_backbone), ["a", "b"], emb, graph=tiny_graph,
                                               concept_bag=True)
    m.attach(linker=EntityLinker.from_graph(tiny_graph)).eval()
    torch.nn.init.normal_(m.concept_bag.weight, std=1.0)
    tensors = _batch(m, [TEXT]).tensors
    with torch.no_grad():
        logits = m(**tensors).logits
        target = logits.argmax(-1)
        none = torch.zeros(tensors["entity_ids"].shape[:2])
        log_full = torch.log_softmax(logits, -1)[0, target[0]]
        log_none = torch.log_softmax(m(**tensors, mention_presence=none).logits, -1)[0, target[0]]
    assert abs(float(log_full - log_none)) > 1e-3
    attr = gradient_attribution(m, tensors, target, steps=64)
    assert float(attr.sum()) == pytest.approx(float(log_full - log_none), rel=0.02, abs=1e-4)
    pred = m.predict([TEXT], explain=True, max_concepts=100)[0]
    assert any(abs(e.ablation_delta) > 1e-4 for e in pred.entities)  # removing a mention removes its vote
    # the concept votes for the predicted label add up to the head's centred logit for it
    with torch.no_grad():
        bag = m.concept_bag(tensors["entity_ids"], tensors["entity_priors"])[0]
    y = m.config.label2id[pred.label]
    assert sum(c["vote"] for c in pred.concepts) == pytest.approx(float(bag[y] - bag.mean()), abs=1e-4)
    labels = {c["label"] for c in pred.concepts}
    assert {"atrial fibrillation", "arrhythmia", "heart disease", "disease", "seizure"} <= labels
    assert [abs(c["vote"]) for c in pred.concepts] == sorted((abs(c["vote"]) for c in pred.concepts), reverse=True)
    assert len(m.predict([TEXT], explain=True, max_concepts=2)[0].concepts) == 2
    assert m.predict([TEXT])[0].concepts == []  # only explained predictions carry them
    from kgenhance.htmlview import predictions_html

    page = predictions_html([pred], m.linker.graph)
    assert "Concept votes for" in page and "arrhythmia" in page


def test_swap_delta_replaces_the_candidates_by_the_runner_up(model):
    tensors = _batch(model, [TEXT]).tensors
    ids, priors = tensors["entity_ids"], tensors["entity_priors"]
    # give the first mention a competitor: the entity of the second mention
    ids[0, 0, 1] = ids[0, 1, 0]
    priors[0, 0, 1] = 0.2
    with torch.no_grad():
        probs = torch.softmax(model(**tensors).logits, -1)
    target = probs.argmax(-1)
    base = probs.gather(1, target[:, None]).squeeze(1)
    ablation, swap, flipped = ablation_effects(model, tensors, target, base)
    assert not math.isnan(float(swap[0, 0])) and math.isnan(float(swap[0, 1]))
    swapped = {n: v.clone() for n, v in tensors.items()}
    swapped["entity_ids"][0, 0] = 0
    swapped["entity_ids"][0, 0, 0] = ids[0, 1, 0]
    expected = _prob(model, swapped, int(target[0])) - float(base[0])
    assert float(swap[0, 0]) == pytest.approx(expected, abs=1e-5)
    assert not bool(torch.isnan(ablation[0, :3]).any())  # every real mention has an ablation delta
    for k in range(3):  # a flip is a removal that moves the predicted class's probability below 1/2 (2 classes)
        assert bool(flipped[0, k]) == (float(base[0]) + float(ablation[0, k]) < 0.5)


def test_paths_run_from_the_entity_to_the_root(model):
    pred = model.predict([TEXT], explain=True)[0]
    af = next(e for e in pred.entities if e.label == "atrial fibrillation")
    assert [p["label"] for p in af.path] == ["atrial fibrillation", "arrhythmia", "heart disease", "disease"]
    assert af.path[0]["entity"] == af.entity
    d = af.to_dict()
    for key in ("attribution", "ablation_delta", "swap_delta", "swap_entity", "path"):
        assert key in d
    assert d["swap_entity"] is None and d["swap_delta"] is None  # "atrial fibrillation" has one candidate


def test_explanations_can_skip_the_ablations(model):
    pred = model.predict([TEXT], explain=True, ablation=False)[0]
    assert all(e.ablation_delta is None and e.attribution is not None for e in pred.entities)


def test_faithfulness_bench_measures_on_a_tiny_model(model):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from bench_faithfulness import STRATEGIES, measure, paired_bootstrap_ci

    texts = [TEXT, "convulsion and cardiac disease in the child", "no findings", "seizures after atrial fibrillation"]
    result = measure(model, texts, batch_size=2, ig_steps=4, seed=0)
    assert result["texts_scored"] == 3 and result["mentions"] == 7  # texts with at least two linked entities
    drops = {s: result["strategies"][s]["mean_probability_drop"] for s in STRATEGIES}
    # the oracle removes the entity whose removal hurts most: nothing beats it, and it beats the average
    assert all(drops["oracle"] >= drops[s] - 1e-9 for s in STRATEGIES)
    assert drops["oracle"] >= drops["random"]
    assert paired_bootstrap_ci([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], seed=0) == (1.0, 1.0)


def test_html_page_describes_an_entity_once_and_says_when_a_text_was_cut(model, tiny_graph):
    from kgenhance.htmlview import predictions_html

    long_text = "seizures and seizures again. " + "the patient had no findings . " * 40
    preds = model.predict([long_text], explain=True, warn_truncated=False)
    assert preds[0].truncated and [e.label for e in preds[0].entities][:2] == ["seizure", "seizure"]
    page = predictions_html(preds, tiny_graph)
    assert page.count('<div class="path">seizure → nervous system disease → disease</div>') == 1
    assert "The model read only the beginning of this text" in page
    short = predictions_html(model.predict([TEXT], explain=True), tiny_graph)
    assert "The model read only the beginning" not in short
