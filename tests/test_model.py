"""kgenhance.model: the knowledge layer, the classifier, save/load, several backbone families."""

from __future__ import annotations

import pytest
import torch

from kgenhance.encode import EntityEmbeddings
from kgenhance.errors import ModelError
from kgenhance.link import EntityLinker
from kgenhance.model import KnowledgeAttention, KnowledgeAwareClassifier, KnowledgeCollator

from conftest import make_tiny_backbone


def fake_embeddings(graph, dim=8, seed=0) -> EntityEmbeddings:
    g = torch.Generator().manual_seed(seed)
    return EntityEmbeddings(torch.randn(len(graph), dim, generator=g), graph.content_hash)


def layer_inputs(b=2, t=6, m=3, c=2, h=16, d=8, mentions=True):
    torch.manual_seed(0)
    hidden = torch.randn(b, t, h)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[1, 4:] = 0
    spans = torch.full((b, m, 2), -1)
    if mentions:
        spans[0, 0] = torch.tensor([1, 2])
        spans[0, 1] = torch.tensor([4, 4])
        spans[1, 0] = torch.tensor([2, 3])
    cand = torch.randn(b, m, c, d)
    priors = torch.tensor([0.7, 0.3]).expand(b, m, c).clone()
    cmask = (spans[..., :1] >= 0).expand(b, m, c).clone()
    return hidden, mask, spans, cand, priors, cmask


def test_knowledge_attention_is_identity_at_init_and_weights_are_shares():
    layer = KnowledgeAttention(16, 8, 12, num_heads=3, dropout=0.0)
    hidden, mask, spans, cand, priors, cmask = layer_inputs()
    out, info = layer(hidden, mask, spans, cand, priors, cmask)
    torch.testing.assert_close(out, hidden)  # zero-initialised output projection
    assert info.mention_weights.shape == (2, 3)
    assert float(info.mention_weights[0, 2].detach()) == 0.0 and float(info.mention_weights[1, 1].detach()) == 0.0  # padding
    assert bool((info.mention_weights.sum(1) <= 1.0 + 1e-6).all())
    assert bool((info.mention_weights[0, :2] > 0).all())
    torch.testing.assert_close(info.candidate_weights[0, 0].sum(), torch.tensor(1.0))
    assert float(info.candidate_weights[0, 2].sum().detach()) == 0.0


def test_knowledge_attention_changes_hidden_once_trained_and_only_on_real_tokens():
    layer = KnowledgeAttention(16, 8, 12, num_heads=3, dropout=0.0)
    torch.nn.init.normal_(layer.up.weight)
    hidden, mask, spans, cand, priors, cmask = layer_inputs()
    out, _ = layer(hidden, mask, spans, cand, priors, cmask)
    assert not torch.allclose(out[0], hidden[0])
    torch.testing.assert_close(out[1, 4:], hidden[1, 4:])  # padding positions untouched
    loss = out.pow(2).sum()
    loss.backward()
    assert layer.entity_proj.weight.grad is not None and layer.entity_proj.weight.grad.abs().sum() > 0


def test_candidate_mix_follows_prior_when_similarity_is_equal():
    layer = KnowledgeAttention(16, 8, 8, num_heads=2, dropout=0.0)
    with torch.no_grad():
        layer.candidate_scorer[0].weight.zero_()
        layer.candidate_scorer[0].weight[:, 1] = 1.0  # only the log prior counts
        layer.candidate_scorer[0].bias.fill_(10.0)  # keeps ReLU in its linear range
        layer.candidate_scorer[2].weight.fill_(1.0 / 16)
        layer.candidate_scorer[2].bias.zero_()
    hidden, mask, spans, cand, priors, cmask = layer_inputs()
    _, info = layer(hidden, mask, spans, cand, priors, cmask)
    psi = info.candidate_weights[0, 0].detach()
    # logits are log priors: the mix reproduces the linker's 0.7 / 0.3
    torch.testing.assert_close(psi, torch.tensor([0.7, 0.3]))


@pytest.fixture(scope="module")
def tiny_setup(tiny_graph, tiny_backbone):
    emb = fake_embeddings(tiny_graph)
    linker = EntityLinker.from_graph(tiny_graph)
    return tiny_graph, emb, linker, str(tiny_backbone)


def texts():
    return ["the patient had atrial fibrillation and seizures", "no findings"]


def test_knowledge_model_starts_equal_to_baseline(tiny_setup):
    graph, emb, linker, backbone = tiny_setup
    torch.manual_seed(5)
    kmodel = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb)
    torch.manual_seed(5)
    base = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], use_knowledge=False)
    torch.testing.assert_close(kmodel.classifier.weight, base.classifier.weight)
    kmodel.eval(), base.eval()
    batch = KnowledgeCollator(kmodel.tokenizer, linker)(texts())
    assert int((batch.tensors["entity_spans"][0, :, 0] >= 0).sum()) == 3
    out_k = kmodel(**batch.tensors)
    out_b = base(**{k: v for k, v in batch.tensors.items() if not k.startswith("entity_")})
    torch.testing.assert_close(out_k.logits, out_b.logits)
    assert out_k.mention_weights is not None and out_b.mention_weights is None
    assert not hasattr(base, "knowledge")


def test_entity_table_holds_embeddings_and_is_frozen(tiny_setup):
    graph, emb, linker, backbone = tiny_setup
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb)
    torch.testing.assert_close(model.entity_embeddings.weight[1:], emb.vectors)
    assert float(model.entity_embeddings.weight[0].abs().sum()) == 0.0
    assert not model.entity_embeddings.weight.requires_grad


def test_save_reload_same_outputs_and_resources(tiny_setup, tmp_path):
    graph, emb, linker, backbone = tiny_setup
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, knowledge_layer=1).attach(linker=linker)
    torch.nn.init.normal_(model.knowledge.up.weight, std=0.5)  # make the knowledge layer matter
    model.eval()
    before = model.predict(texts(), explain=True)
    model.save_pretrained(tmp_path / "m")
    back = KnowledgeAwareClassifier.from_pretrained(tmp_path / "m")
    after = back.predict(texts(), explain=True)
    assert back.linker is not None and back.config.knowledge_layer == 1
    for p, q in zip(before, after):
        assert p.label == q.label
        for k in p.probabilities:
            assert p.probabilities[k] == pytest.approx(q.probabilities[k], abs=1e-6)
        assert [e.to_dict() for e in p.entities] == [e.to_dict() for e in q.entities]
    assert [e.label for e in after[0].entities] == ["patient", "atrial fibrillation", "seizure"]
    assert after[1].entities == []


def test_attach_rejects_linker_of_another_graph(tiny_setup):
    graph, emb, linker, backbone = tiny_setup
    other = EntityEmbeddings(emb.vectors, "0" * 64)
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], other)
    with pytest.raises(ModelError, match="not the graph"):
        model.attach(linker=linker)


def test_load_errors(tmp_path, tiny_backbone):
    with pytest.raises(ModelError, match="not a kgenhance model directory"):
        KnowledgeAwareClassifier.from_pretrained(tmp_path)
    with pytest.raises(ModelError, match="no such directory"):
        KnowledgeAwareClassifier.from_backbone(str(tmp_path / "nope"), ["a", "b"], use_knowledge=False)


def test_corrupt_weights_refused(tiny_setup, tmp_path):
    graph, emb, linker, backbone = tiny_setup
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb).attach(linker=linker)
    model.save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError):
        KnowledgeAwareClassifier.from_pretrained(tmp_path / "m")


@pytest.mark.parametrize("model_type", ["bert", "roberta", "distilbert", "deberta-v2", "modernbert"])
@pytest.mark.parametrize("fusion", ["kar", "ernie"])
def test_other_backbone_families(tiny_setup, tmp_path, model_type, fusion):
    from kgenhance.train.trainer import TrainingConfig, _apply_lora

    graph, emb, linker, _ = tiny_setup
    backbone = make_tiny_backbone(tmp_path / model_type, model_type)
    model = KnowledgeAwareClassifier.from_backbone(str(backbone), ["a", "b"], emb, fusion=fusion).attach(linker=linker)
    torch.nn.init.normal_(model.knowledge.up.weight, std=0.5)
    batch = KnowledgeCollator(model.tokenizer, linker)(texts(), labels=[0, 1])
    batch.tensors.pop("token_type_ids", None)
    out = model(**batch.tensors)
    out.loss.backward()
    assert out.mention_weights is not None and float(out.mention_weights[0].detach().sum()) > 0
    assert model.knowledge.down.weight.grad is not None
    # LoRA finds the family's attention projections (and only under the encoder)
    peft_model = _apply_lora(model, TrainingConfig(lora=True))
    lora_names = [n for n, _ in peft_model.named_parameters() if "lora_" in n]
    assert lora_names and all(".encoder." in f".{n}" for n in lora_names)


def test_model_directory_problems_are_named(tiny_setup, tmp_path):
    import json

    graph, emb, linker, backbone = tiny_setup
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb).attach(linker=linker)
    model.save_pretrained(tmp_path / "m")
    config = tmp_path / "m" / "config.json"
    raw = json.loads(config.read_text())
    assert raw["kgenhance_format"] == 1
    config.write_text(json.dumps({**raw, "kgenhance_format": 99}))
    with pytest.raises(ModelError, match="newer kgenhance"):
        KnowledgeAwareClassifier.from_pretrained(tmp_path / "m")
    config.write_text(json.dumps({**raw, "model_type": "bert"}))
    with pytest.raises(ModelError, match="model_type is 'bert'"):
        KnowledgeAwareClassifier.from_pretrained(tmp_path / "m")
    config.write_text("{broken")
    with pytest.raises(ModelError, match="not readable JSON"):
        KnowledgeAwareClassifier.from_pretrained(tmp_path / "m")
    config.write_text(json.dumps(raw))
    assert KnowledgeAwareClassifier.from_pretrained(tmp_path / "m").config.kgenhance_format == 1
    (tmp_path / "m" / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="model.safetensors is missing"):
        KnowledgeAwareClassifier.from_pretrained(tmp_path / "m")


# ---------------------------------------------------------------- fusion variants, gate, hierarchy
VARIANTS = [
    {"fusion": "kar", "knowledge_gate": True},
    {"fusion": "ernie"},
    {"fusion": "ernie", "knowledge_gate": True, "hierarchy_dim": 6, "max_ancestors": 4},
    {"fusion": "kar", "hierarchy_dim": 6},
    {"fusion": "kar", "concept_bag": True, "concept_ancestors": 4},
]


def test_ancestor_table_lists_self_then_nearest_ancestors(tiny_setup):
    from kgenhance.model.hierarchy import ancestor_table

    from conftest import MED

    graph = tiny_setup[0]
    table = ancestor_table(graph, max_ancestors=5)
    assert table.shape == (len(graph) + 1, 5) and int(table[0].abs().sum()) == 0
    af = graph.id_of(MED + "AtrialFibrillation")
    names = [graph.entities[i - 1].iri.split("#")[1] for i in table[af + 1].tolist() if i]
    assert names == ["AtrialFibrillation", "Arrhythmia", "HeartDisease", "Disease"]
    patient = graph.id_of(MED + "patient42")  # an individual: its class first
    assert [graph.entities[i - 1].iri.split("#")[1] for i in table[patient + 1].tolist() if i] == ["patient42",
                                                                                                  "Patient"]
    assert table[af + 1].tolist()[:2] == ancestor_table(graph, max_ancestors=2)[af + 1].tolist()


@pytest.mark.parametrize("options", VARIANTS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_fusion_variants_start_as_baseline_train_and_reload(options, tiny_setup, tmp_path):
    graph, emb, linker, backbone = tiny_setup
    torch.manual_seed(5)
    kmodel = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, graph=graph, **options)
    torch.manual_seed(5)
    base = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], use_knowledge=False)
    kmodel.attach(linker=linker).eval(), base.eval()
    batch = KnowledgeCollator(kmodel.tokenizer, linker)(texts(), labels=[0, 1])
    out_k = kmodel(**batch.tensors)
    out_b = base(**{k: v for k, v in batch.tensors.items() if not k.startswith("entity_")})
    torch.testing.assert_close(out_k.logits, out_b.logits)  # the untrained layer is the identity

    kmodel.train()
    torch.nn.init.normal_(kmodel.knowledge.up.weight, std=0.5)
    out = kmodel(**batch.tensors)
    out.loss.backward()
    assert kmodel.knowledge.down.weight.grad is not None and float(kmodel.knowledge.down.weight.grad.abs().sum()) > 0
    if options.get("knowledge_gate"):
        assert float(kmodel.knowledge.gate.proj.weight.grad.abs().sum()) > 0
    if options.get("hierarchy_dim"):
        grad = kmodel.hierarchy.table.weight.grad
        assert float(grad.abs().sum()) > 0
        af = graph.id_of("http://example.org/med#AtrialFibrillation") + 1
        disease = graph.id_of("http://example.org/med#Disease") + 1
        assert float(grad[disease].abs().sum()) > 0  # an ancestor of a linked entity learns too
        assert kmodel.hierarchy.ancestors[af, 0] == af
    if options.get("concept_bag"):
        grad = kmodel.concept_bag.weight.grad
        disease = graph.id_of("http://example.org/med#Disease") + 1
        heart = graph.id_of("http://example.org/med#Heart") + 1
        assert float(grad[disease].abs().sum()) > 0  # the ancestor of linked diseases learns
        assert float(grad[heart].abs().sum()) == 0  # a concept no text mentions does not
    kmodel.eval()
    with torch.no_grad():
        out = kmodel(**batch.tensors)
    assert float(out.mention_weights[0].sum()) > 0 and float(out.mention_weights[1].sum()) == 0

    kmodel.save_pretrained(tmp_path / "m")
    back = KnowledgeAwareClassifier.from_pretrained(tmp_path / "m").eval()
    assert back.config.fusion == options["fusion"]
    with torch.no_grad():
        torch.testing.assert_close(back(**batch.tensors).logits, out.logits)
    if options.get("hierarchy_dim"):
        assert torch.equal(back.hierarchy.ancestors, kmodel.hierarchy.ancestors)
    if options.get("concept_bag"):
        assert torch.equal(back.concept_bag.ancestors, kmodel.concept_bag.ancestors)


@pytest.mark.parametrize("options", VARIANTS + [{"fusion": "kar", "concept_bag": True, "concept_bag_dropout": 0.5}],
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_knowledge_modules_leave_the_baselines_random_stream_alone(options, tiny_setup):
    graph, emb, linker, backbone = tiny_setup
    torch.manual_seed(5)
    kmodel = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, graph=graph, **options)
    after_k = torch.get_rng_state()
    torch.manual_seed(5)
    base = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], use_knowledge=False)
    assert torch.equal(after_k, torch.get_rng_state())  # building the knowledge modules drew nothing global
    kmodel.train(), base.train()  # dropout on (the tiny BERT's is 0.1)
    batch = KnowledgeCollator(kmodel.tokenizer, linker)(texts(), labels=[0, 1])
    stream_before = kmodel.knowledge_rng.state.clone()
    torch.manual_seed(11)
    out_k = kmodel(**batch.tensors)
    after_k = torch.get_rng_state()
    torch.manual_seed(11)
    out_b = base(**{k: v for k, v in batch.tensors.items() if not k.startswith("entity_")})
    assert torch.equal(after_k, torch.get_rng_state())
    # the untrained layer adds nothing and the backbone's dropout masks are the baseline's: same logits
    torch.testing.assert_close(out_k.logits, out_b.logits)
    assert not torch.equal(stream_before, kmodel.knowledge_rng.state)  # its own masks came from its stream


def test_concept_bag_counts_each_ancestor_once_and_scales_by_the_set_size():
    from kgenhance.model.concept_bag import ConceptBag

    bag = ConceptBag(num_entities=5, num_labels=2, max_ancestors=3)
    table = torch.zeros(6, 3, dtype=torch.long)  # ids 1-based: 1 ← 2 ← 3 (a chain), 4 ← 5
    table[1, 0], table[2, :2], table[3], table[4, 0], table[5, :2] = 1, torch.tensor([2, 1]), torch.tensor([3, 2, 1]), 4, torch.tensor([5, 4])
    bag.set_ancestors(table)
    # text 0: mention 0's candidates 3 (prior 0.9) and 5 (0.1); mention 1 is entity 2 → {3, 2, 1}
    ids = torch.tensor([[[3, 5], [2, 0]], [[0, 0], [0, 0]]])
    priors = torch.tensor([[[0.9, 0.1], [1.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    concepts, weights = bag.concepts(ids, priors)
    assert sorted(concepts[0][weights[0] > 0].tolist()) == [1, 2, 3] and float(weights[0].sum()) == 3.0
    assert float(weights[1].sum()) == 0.0  # no mention, no concept
    with torch.no_grad():
        bag.weight.copy_(torch.arange(12.0).view(6, 2))
    expected = (bag.weight[1] + bag.weight[2] + bag.weight[3]) / 3 ** 0.5
    torch.testing.assert_close(bag(ids, priors)[0], expected)
    torch.testing.assert_close(bag(ids, priors)[1], torch.zeros(2))
    # the candidate with the larger prior is the one that votes
    priors[0, 0] = torch.tensor([0.2, 0.8])  # now entity 5 → {5, 4}, plus {2, 1}
    concepts, weights = bag.concepts(ids, priors)
    assert sorted(concepts[0][weights[0] > 0].tolist()) == [1, 2, 4, 5]
    # a shared ancestor keeps the largest presence of the mentions that reach it
    priors[0, 0] = torch.tensor([0.9, 0.1])
    concepts, weights = bag.concepts(ids, priors, presence=torch.tensor([[0.25, 0.5], [1.0, 1.0]]))
    got = dict(zip(concepts[0].tolist(), weights[0].tolist()))
    assert got[3] == 0.25 and got[2] == 0.5 and got[1] == 0.5
    with pytest.raises(ValueError, match="shape"):
        bag.set_ancestors(torch.zeros(6, 2, dtype=torch.long))


def test_concept_bag_dropout_leaves_out_whole_texts_in_training_only(tiny_setup):
    graph, emb, linker, backbone = tiny_setup
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, graph=graph, concept_bag=True,
                                                   concept_bag_dropout=0.5)
    bag = torch.arange(1.0, 129.0).view(64, 2)
    model.eval()
    assert torch.equal(model._drop_bag(bag), bag)  # inference: every text's votes, unscaled
    model.train()
    torch.manual_seed(3)
    outer = torch.get_rng_state()
    dropped = model._drop_bag(bag)
    assert torch.equal(outer, torch.get_rng_state())  # drawn from the knowledge modules' own stream
    kept = dropped.abs().sum(-1) > 0
    assert torch.equal(dropped[kept], 2 * bag[kept])  # kept texts scaled by 1 / (1 − p), both labels alike
    assert 16 <= int(kept.sum()) <= 48  # about half of 64 texts (binomial, p = 0.5: outside in < 1e-4)
    assert not torch.equal(model._drop_bag(bag), dropped)  # a new draw each step
    plain = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, graph=graph, concept_bag=True).train()
    assert torch.equal(plain._drop_bag(bag), bag)  # off by default


def test_concept_bag_settings_are_checked(tiny_setup):
    from kgenhance.errors import ConfigError
    from kgenhance.model import KnowledgeAwareConfig

    graph, emb, linker, backbone = tiny_setup
    with pytest.raises(ModelError, match="graph"):
        KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, concept_bag=True)
    with pytest.raises(ConfigError, match="concept_ancestors"):
        KnowledgeAwareConfig(concept_ancestors=0)
    with pytest.raises(ConfigError, match="concept_bag_dropout"):
        KnowledgeAwareConfig(concept_bag_dropout=1.0)


def test_ernie_fusion_writes_only_at_first_word_pieces():
    from kgenhance.model.mention_fusion import MentionFusion

    hidden, mask, spans, cand, priors, cmask = layer_inputs()
    layer = MentionFusion(16, 8, 12, 0.0).eval()
    torch.nn.init.normal_(layer.up.weight, std=0.5)
    new, info = layer(hidden, mask, spans, cand, priors, cmask)
    changed = (new - hidden).abs().sum(-1) > 0  # (B, T)
    assert changed[0].nonzero().flatten().tolist() == [1, 4]  # first word pieces of the two mentions
    assert changed[1].nonzero().flatten().tolist() == [2]
    assert torch.allclose(info.mention_weights[0, :2].sum(), torch.tensor(1.0))
    assert float(info.mention_weights[0, 2]) == 0.0


def test_gate_can_shut_knowledge_off():
    hidden, mask, spans, cand, priors, cmask = layer_inputs()
    layer = KnowledgeAttention(16, 8, 12, 3, 0.0, gate=True).eval()
    torch.nn.init.normal_(layer.up.weight, std=0.5)
    open_, _ = layer(hidden, mask, spans, cand, priors, cmask)
    with torch.no_grad():
        layer.gate.proj.bias.fill_(-30.0)
    shut, _ = layer(hidden, mask, spans, cand, priors, cmask)
    assert float((open_ - hidden).detach().abs().max()) > 1e-3
    torch.testing.assert_close(shut, hidden, atol=1e-6, rtol=0)


def test_unknown_fusion_and_missing_graph_are_refused(tiny_setup):
    graph, emb, linker, backbone = tiny_setup
    with pytest.raises(ValueError, match="fusion"):
        KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, fusion="kbert2")
    with pytest.raises(ModelError, match="graph"):
        KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, hierarchy_dim=4)


def test_entity_text_segment_names_entities_and_their_ancestors(tiny_setup, tmp_path):
    graph, emb, linker, backbone = tiny_setup
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, entity_text=3,
                                                   entity_text_ancestors=1).attach(linker=linker)
    collator = KnowledgeCollator.for_model(model)
    assert collator.entity_text == 3 and collator.entity_text_ancestors == 1
    mentions = [linker.link(t) for t in texts()]
    segment = collator.describe_entities(mentions[0])
    assert segment == "patient; atrial fibrillation (arrhythmia); seizure (nervous system disease)"
    batch = collator(texts())
    ids = batch.tensors["input_ids"][0].tolist()
    second = batch.tensors["token_type_ids"][0].tolist()
    words = model.tokenizer.convert_ids_to_tokens([i for i, t in zip(ids, second) if t == 1])
    assert "arrhythmia" in words and "nervous" in words
    plain = KnowledgeCollator(model.tokenizer, linker)(texts())
    # the mentions still point at the same word pieces of the text itself
    assert torch.equal(batch.tensors["entity_spans"], plain.tensors["entity_spans"])
    model.save_pretrained(tmp_path / "m")
    back = KnowledgeAwareClassifier.from_pretrained(tmp_path / "m")
    again = KnowledgeCollator.for_model(back)(texts())
    assert torch.equal(again.tensors["input_ids"], batch.tensors["input_ids"])


def test_names_segment_can_be_left_out_of_pooling(tiny_setup, tmp_path):
    graph, emb, linker, backbone = tiny_setup
    torch.manual_seed(3)
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, entity_text=3,
                                                   entity_text_pooling=False).attach(linker=linker).eval()
    batch = KnowledgeCollator.for_model(model)(texts()).tensors
    names = batch["names_mask"]
    ids, types = batch["input_ids"], batch["token_type_ids"]
    sep = model.tokenizer.sep_token_id
    # the names segment: second-segment word pieces, without its closing [SEP]
    assert torch.equal(names.bool(), (types == 1) & (ids != sep) & batch["attention_mask"].bool())
    assert int(names[0].sum()) > 0 and int(names[1].sum()) == 0  # the second text links nothing
    with torch.no_grad():
        out = model(**batch).logits
        hidden = {}
        handle = model.classifier.register_forward_hook(lambda m, a, o: hidden.setdefault("pooled", a[0]))
        model(**batch)
        handle.remove()
        states = model.encoder(input_ids=ids, attention_mask=batch["attention_mask"],
                               token_type_ids=types).last_hidden_state  # untrained layer: identity
    keep = (batch["attention_mask"] * (1 - names)).unsqueeze(-1).float()
    torch.testing.assert_close(hidden["pooled"], (states * keep).sum(1) / keep.sum(1))
    model.config.entity_text_pooling = True  # the names back in: the first text's logits change, not the second's
    with torch.no_grad():
        pooled_all = model(**batch).logits
    assert not torch.allclose(pooled_all[0], out[0]) and torch.allclose(pooled_all[1], out[1])
    model.config.entity_text_pooling = False
    model.save_pretrained(tmp_path / "m")
    back = KnowledgeAwareClassifier.from_pretrained(tmp_path / "m").eval()
    assert back.config.entity_text_pooling is False
    with torch.no_grad():
        torch.testing.assert_close(back(**batch).logits, out)


def test_entity_text_visibility_is_kbert(tiny_setup, tmp_path):
    graph, emb, linker, backbone = tiny_setup
    model = KnowledgeAwareClassifier.from_backbone(backbone, ["a", "b"], emb, entity_text=3, entity_text_ancestors=1,
                                                   entity_text_visibility=True).attach(linker=linker)
    model.eval()
    collator = KnowledgeCollator.for_model(model)
    batch = collator(texts())
    vis = batch.tensors["visibility_mask"]
    ids = batch.tensors["input_ids"]
    assert vis.shape == (2, ids.shape[1], ids.shape[1]) and vis.dtype == torch.bool
    tokens = model.tokenizer.convert_ids_to_tokens(ids[0].tolist())
    segment = batch.tensors["token_type_ids"][0].tolist()
    pos = {(tok, seg): i for i, (tok, seg) in enumerate(zip(tokens, segment))}
    arrhythmia, nervous = pos["arrhythmia", 1], pos["nervous", 1]  # names of two different entities
    had = pos["had", 0]  # a text word that is no mention
    # the mention "atrial fibrillation" anchors its entity's names
    spans = batch.tensors["entity_spans"][0].tolist()
    words = [tokens[a:b + 1] for a, b in spans if a >= 0]
    first, last = spans[words.index([t for t in words if "atrial" in t][0])]
    for anchor in range(first, last + 1):
        assert vis[0, anchor, arrhythmia] and vis[0, arrhythmia, anchor]
    assert not vis[0, had, arrhythmia] and not vis[0, arrhythmia, had]  # the rest of the text cannot see it
    assert not vis[0, nervous, arrhythmia] and not vis[0, arrhythmia, nervous]  # nor other entities' names
    assert vis[0, had, pos["patient", 0]] and vis[0, 0, had]  # text sees text, [CLS] included
    pad = batch.tensors["attention_mask"][1] == 0
    others = vis[1] & ~torch.eye(len(pad), dtype=torch.bool)
    assert bool(pad.any()) and not bool(others[:, pad].any())  # padding is seen by no other word piece
    with torch.no_grad():
        masked = model(**batch.tensors).logits
        unmasked = model(**{k: v for k, v in batch.tensors.items() if k != "visibility_mask"}).logits
        everything = dict(batch.tensors, visibility_mask=batch.tensors["attention_mask"].bool().unsqueeze(1)
                          .expand_as(vis) | torch.eye(vis.shape[1], dtype=torch.bool))
        open_ = model(**everything).logits
    assert torch.isfinite(masked).all()
    assert float((masked - unmasked).abs().max()) > 1e-5  # the mask reaches the encoder
    torch.testing.assert_close(open_[0], unmasked[0], atol=1e-5, rtol=1e-4)  # a full mask changes nothing
    model.save_pretrained(tmp_path / "m")
    back = KnowledgeAwareClassifier.from_pretrained(tmp_path / "m")
    assert KnowledgeCollator.for_model(back)(texts()).tensors["visibility_mask"].shape == vis.shape


def test_entity_text_visibility_needs_a_supporting_backbone(tiny_setup, tmp_path):
    from conftest import make_tiny_backbone

    from kgenhance.errors import ConfigError

    graph, emb, linker, _ = tiny_setup
    deberta = make_tiny_backbone(tmp_path / "deberta", "deberta-v2")
    with pytest.raises(ConfigError, match="per-token attention mask"):
        KnowledgeAwareClassifier.from_backbone(str(deberta), ["a", "b"], emb, entity_text=2, entity_text_visibility=True)


@pytest.mark.parametrize("model_type", ["roberta", "distilbert"])
def test_entity_text_visibility_on_other_backbones(tiny_setup, tmp_path, model_type):
    from conftest import make_tiny_backbone

    graph, emb, linker, _ = tiny_setup
    backbone = make_tiny_backbone(tmp_path / model_type, model_type)
    model = KnowledgeAwareClassifier.from_backbone(str(backbone), ["a", "b"], emb, entity_text=3,
                                                   entity_text_visibility=True).attach(linker=linker)
    model.eval()
    batch = KnowledgeCollator.for_model(model)(texts())
    vis = batch.tensors["visibility_mask"]
    full = batch.tensors["attention_mask"].bool().unsqueeze(1).expand_as(vis) | torch.eye(vis.shape[1], dtype=torch.bool)
    with torch.no_grad():
        masked = model(**batch.tensors).logits
        unmasked = model(**{k: v for k, v in batch.tensors.items() if k != "visibility_mask"}).logits
        open_ = model(**dict(batch.tensors, visibility_mask=full)).logits
    assert torch.isfinite(masked).all() and float((masked - unmasked).abs().max()) > 1e-6
    torch.testing.assert_close(open_[0], unmasked[0], atol=1e-5, rtol=1e-4)


def test_private_stream_swaps_only_its_devices_generator():
    from kgenhance.model.rng import PrivateRandomStream

    stream = PrivateRandomStream(9)
    torch.manual_seed(1)
    with stream.use("cpu"):
        inside = torch.rand(4)
    outside = torch.rand(4)
    torch.manual_seed(1)
    assert torch.equal(outside, torch.rand(4))  # the global generator went on as if the block never drew
    assert torch.equal(inside, torch.rand(4, generator=torch.Generator().manual_seed(9)))  # the block drew from seed 9
    assert PrivateRandomStream.supports("cpu") and PrivateRandomStream.supports("cuda:1")
    assert not PrivateRandomStream.supports("meta")
    before = torch.get_rng_state()
    with stream.use("meta"):  # no generator of its own there: nothing is swapped
        assert torch.equal(before, torch.get_rng_state())
