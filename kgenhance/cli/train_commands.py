"""`kgenhance encode|train|pretrain|probe|compare`: entity embeddings, fine-tuning and the paired comparison."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ConfigError
from ._common import (AliasesOpt, AutoOpt, ConceptBagOpt, ConceptDecayOpt, ConceptDropOpt, ConceptLROpt, ContextOpt,
                      EntityTextOpt, ExcludeOpt, FusionOpt, FuzzyOpt, GateOpt, GenericOpt, GnnOpt, HierarchyOpt,
                      KnowledgeLayerOpt, KnowledgeLROpt, MinScoreOpt, OntologyOpt, PoolNamesOpt, PrefixOpt,
                      VisibilityOpt, _load, _model_options, _print_json, _progress, _with_aliases, app)


@app.command()
def encode(
    ontology: List[Path] = OntologyOpt,
    out: Path = typer.Option(..., "--out", help="Directory for entity_embeddings.safetensors and metrics.json."),
    epochs: int = typer.Option(60, help="Training epochs (early stopping on validation MRR)."),
    dim: int = typer.Option(128, help="Embedding size."),
    layers: int = typer.Option(2, help="Relational GNN layers."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, help="Random seed."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse the ontology even if a cached graph exists."),
    text_features: Optional[str] = typer.Option(
        None, "--text-features", help="static or contextual: entity names/definitions, embedded by the backbone, as input."
    ),
    id_embeddings: bool = typer.Option(True, "--id-embeddings/--no-id-embeddings", help="Learned per-entity input vectors (off with --text-features: inductive)."),
    inductive_fraction: float = typer.Option(0.0, help="Hold out this share of entities and report their link prediction after embedding them from text."),
    backbone: Optional[str] = typer.Option(None, help="Encoder of the text features (default: the bundled all-MiniLM-L6-v2)."),
    encoder: str = typer.Option("compgcn", help="GNN: compgcn (relation vectors composed with entities), rgcn (basis R-GCN) or sage (cheapest per edge, for huge graphs)."),
    decoder: str = typer.Option("rotate", help="Link scorer: rotate (asymmetric) or distmult (symmetric)."),
    composition: str = typer.Option("mult", help="compgcn: sub, mult or corr."),
    sampling: str = typer.Option("auto", help="full (whole graph per step), neighbour (sampled neighbourhoods) or auto (by --memory-budget-gb)."),
    fanouts: str = typer.Option("10,5", help="Neighbour sampling: incoming edges kept per node, per hop."),
    batch_size: int = typer.Option(8192, help="Positive edges per optimisation step."),
    memory_budget_gb: float = typer.Option(8.0, help="auto sampling: sample when a full-graph pass would need more."),
    filter_negatives: bool = typer.Option(False, "--filter-negatives", help="Leave random corruptions that are known facts out of the loss."),
) -> None:
    """Train GNN entity embeddings on an ontology by link prediction.

    Example: kgenhance encode -o graphs/hpo/hp.obo --out runs/hpo-emb --epochs 30
    """
    from ..encode import EncoderConfig, train_entity_encoder

    graph = _load(ontology, no_cache)
    try:
        hops = tuple(int(f) for f in fanouts.split(","))
    except ValueError:
        raise ConfigError(f"--fanouts: comma-separated whole numbers, one per hop, not {fanouts!r}") from None
    cfg = EncoderConfig(epochs=epochs, dim=dim, num_layers=layers, device=device, seed=seed,
                        text_features=text_features, id_embeddings=id_embeddings,
                        inductive_fraction=inductive_fraction, backbone=backbone, encoder=encoder,
                        decoder=decoder, composition=composition, sampling=sampling, fanouts=hops,
                        batch_size=batch_size, memory_budget_gb=memory_budget_gb, filter_negatives=filter_negatives)
    emb = train_entity_encoder(graph, cfg, progress=_progress())
    emb.save(out)
    m = emb.metrics
    summary = {"encoder": encoder, "decoder": decoder, "sampling": m["sampling"], "mrr": m["mrr"],
               "hits@10": m["hits@10"], "entities": m["entities"], "seconds": m["seconds"], "out": str(out)}
    if "inductive" in m:
        summary["inductive_mrr"] = m["inductive"]["mrr"]
    _print_json(summary)


# ---------------------------------------------------------------------- train
@app.command()
def train(
    train_file: Path = typer.Option(..., "--train", help="Training data (CSV/TSV/JSONL/Parquet)."),
    validation: Path = typer.Option(..., "--validation", help="Validation data, used to pick the best epoch."),
    out: Path = typer.Option(..., "--out", help="Model directory to write (replaced as a whole when training ends)."),
    ontology: Optional[List[Path]] = typer.Option(None, "--ontology", "-o", help="Ontology file or directory (repeatable)."),
    text_column: str = typer.Option("text", help="Column of texts."),
    label_column: str = typer.Option("label", help="Column of labels."),
    backbone: Optional[str] = typer.Option(None, help="Local Hugging Face encoder directory (default: the bundled all-MiniLM-L6-v2)."),
    no_knowledge: bool = typer.Option(False, "--no-knowledge", help="Train the identical baseline without the knowledge layer."),
    lora: bool = typer.Option(False, "--lora", help="LoRA on the encoder (knowledge layer and head fully trained)."),
    lora_adapter: bool = typer.Option(
        False, "--lora-adapter", help="With --lora: save only the adapter (small; predict/evaluate load it onto the base encoder)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run from OUT.checkpoint (same settings and data)."
    ),
    epochs: int = typer.Option(3, help="Epochs."),
    batch_size: int = typer.Option(16, help="Batch size."),
    max_length: int = typer.Option(128, help="Maximum word pieces per text."),
    learning_rate: float = typer.Option(5e-5, help="Learning rate of the encoder (LoRA: of the adapters)."),
    knowledge_learning_rate: Optional[float] = KnowledgeLROpt,
    max_train_samples: Optional[int] = typer.Option(None, help="Use a seeded random subset of the training data."),
    max_eval_samples: Optional[int] = typer.Option(None, help="Use a seeded random subset of the validation data."),
    seed: int = typer.Option(42, help="Random seed (data order, initialisation, subsets)."),
    embeddings: Optional[Path] = typer.Option(None, help="Entity embeddings from `kgenhance encode` (default: train them now)."),
    encoder_epochs: int = typer.Option(30, help="GNN epochs when embeddings are trained here."),
    gnn: str = GnnOpt,
    exclude_branch: Optional[List[str]] = ExcludeOpt,
    aliases: Optional[Path] = AliasesOpt,
    fuzzy: bool = FuzzyOpt,
    context: bool = ContextOpt,
    min_score: float = MinScoreOpt,
    fusion: str = FusionOpt,
    gate: bool = GateOpt,
    hierarchy_dim: int = HierarchyOpt,
    knowledge_layer: Optional[int] = KnowledgeLayerOpt,
    entity_text: int = EntityTextOpt,
    entity_text_visibility: bool = VisibilityOpt,
    pool_names: bool = PoolNamesOpt,
    concept_bag: bool = ConceptBagOpt,
    concept_learning_rate: float = ConceptLROpt,
    concept_bag_dropout: float = ConceptDropOpt,
    concept_weight_decay: Optional[float] = ConceptDecayOpt,
    prefix_length: int = PrefixOpt,
    generic_zipf: Optional[float] = GenericOpt,
    auto: bool = AutoOpt,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Fine-tune a knowledge-aware (or baseline) classifier.

    Example: kgenhance train -o graphs/hpo/hp.obo --train examples/data/medical_abstracts/train.csv
    --validation examples/data/medical_abstracts/validation.csv --out runs/med --max-train-samples 500
    """
    from ..encode import EncoderConfig, EntityEmbeddings
    from ..link import LinkerConfig
    from ..train import TrainingConfig, train_classifier

    options = None if no_knowledge else _model_options(  # checked before the graph is loaded
        fusion, gate, hierarchy_dim, knowledge_layer, entity_text, entity_text_visibility, concept_bag, pool_names,
        concept_bag_dropout)
    graph = None
    emb = None
    if not no_knowledge:
        if not ontology:
            raise ConfigError("--ontology is required unless --no-knowledge is given")
        graph = _with_aliases(_load(ontology), aliases)
        if embeddings is not None:
            emb = EntityEmbeddings.load(embeddings, graph)
    cfg = TrainingConfig(
        epochs=epochs,
        batch_size=batch_size,
        max_length=max_length,
        learning_rate=learning_rate,
        max_train_samples=max_train_samples,
        max_eval_samples=max_eval_samples,
        seed=seed,
        text_column=text_column,
        label_column=label_column,
        knowledge_learning_rate=knowledge_learning_rate,
        concept_learning_rate=concept_learning_rate,
        concept_weight_decay=concept_weight_decay,
        lora=lora,
        lora_adapter=lora_adapter,
        prefix_length=prefix_length,
        resume=resume,
        device=device,
    )
    linker_config = LinkerConfig(
        exclude_branches=tuple(exclude_branch or ()), fuzzy=fuzzy, context=context, min_score=min_score,
        generic_zipf=generic_zipf,
    )
    if auto and not no_knowledge:
        options, cfg, linker_config = _auto_settings(train_file, graph, linker_config, cfg)
    result = train_classifier(
        train_file,
        validation,
        out,
        graph=graph,
        embeddings=emb,
        use_knowledge=not no_knowledge,
        backbone=backbone,
        config=cfg,
        linker_config=linker_config,
        encoder_config=EncoderConfig(epochs=encoder_epochs, device=device, seed=seed, encoder=gnn),
        model_options=options,
        progress=_progress(),
    )
    m = result.metrics
    _print_json({k: m[k] for k in ("accuracy", "macro_f1", "best_epoch", "train_seconds")} | {"out": str(out)})


def _auto_settings(train_file: Path, graph, linker_config, cfg):
    """Probe the run's training examples and return the recommended model options, training and linker settings."""
    from ..train.probe import probe_run

    probe, options, cfg, linker_config = probe_run(train_file, graph, linker_config, cfg, progress=_progress())
    typer.echo(f"probe: concepts alone {probe.concepts_f1:.3f} vs words {probe.words_f1:.3f}, together "
               f"{probe.gain:+.3f} macro-F1 (cross-validated on the training data): "
               f"{probe.recommendation.name} ({' '.join(probe.recommendation.flags)})", err=True)
    return options, cfg, linker_config


@app.command()
def pretrain(
    corpus: Path = typer.Option(..., "--corpus", help="Domain texts: .txt (one per line) or CSV/JSONL/Parquet with a text column."),
    out: Path = typer.Option(..., "--out", help="Directory for the adapted backbone (replaced as a whole at the end)."),
    ontology: Optional[List[Path]] = typer.Option(None, "--ontology", "-o", help="Ontology whose linked mentions are masked as whole spans (repeatable)."),
    backbone: Optional[str] = typer.Option(None, help="Local Hugging Face encoder directory (default: the bundled all-MiniLM-L6-v2)."),
    text_column: str = typer.Option("text", help="Column of texts in a table corpus."),
    epochs: int = typer.Option(1, help="Passes over the corpus."),
    batch_size: int = typer.Option(16, help="Batch size."),
    max_length: int = typer.Option(128, help="Maximum word pieces per text."),
    learning_rate: float = typer.Option(5e-5, help="Learning rate."),
    mask_probability: float = typer.Option(0.15, help="Share of word pieces predicted per text."),
    entity_mask_share: float = typer.Option(0.5, help="Share of that budget spent on whole entity mentions (needs --ontology)."),
    max_texts: Optional[int] = typer.Option(None, help="Use at most this many texts (a seeded sample)."),
    exclude_branch: Optional[List[str]] = ExcludeOpt,
    generic_zipf: Optional[float] = GenericOpt,
    seed: int = typer.Option(42, help="Random seed."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Domain-adaptive pre-training: masked-LM on domain text, masking linked entity mentions whole.

    Example: kgenhance pretrain --corpus examples/data/medical_abstracts/train.csv -o graphs/hpo/hp.obo
    --out runs/minilm-med && kgenhance train --backbone runs/minilm-med …
    """
    from ..link import EntityLinker, LinkerConfig
    from ..train import PretrainConfig, pretrain_backbone

    linker = None
    if ontology:
        linker = EntityLinker(_load(ontology), LinkerConfig(exclude_branches=tuple(exclude_branch or ()),
                                                            generic_zipf=generic_zipf))
    cfg = PretrainConfig(epochs=epochs, batch_size=batch_size, max_length=max_length, learning_rate=learning_rate,
                         mask_probability=mask_probability, entity_mask_share=entity_mask_share if linker else 0.0,
                         max_texts=max_texts, seed=seed, device=device)
    metrics = pretrain_backbone(corpus, out, linker=linker, backbone=backbone, config=cfg, text_column=text_column,
                                progress=_progress())
    _print_json({k: metrics[k] for k in ("held_out_mlm_loss_before", "held_out_mlm_loss_after", "train_texts",
                                         "mentions_in_training_texts", "seconds")} | {"out": str(out)})


@app.command()
def probe(
    train_file: Path = typer.Option(..., "--train", help="Training data (CSV/TSV/JSONL/Parquet); validation data is not read."),
    ontology: List[Path] = typer.Option(..., "--ontology", "-o", help="Ontology file or directory (repeatable)."),
    text_column: str = typer.Option("text", help="Column of texts."),
    label_column: str = typer.Option("label", help="Column of labels."),
    max_train_samples: Optional[int] = typer.Option(None, help="Probe the seeded subset `train` would use."),
    seed: int = typer.Option(42, help="Random seed (subset and folds)."),
    folds: int = typer.Option(5, help="Cross-validation folds."),
    min_gain: float = typer.Option(0.01, help="Macro-F1 the concepts must add to the words to recommend using them."),
    min_ratio: float = typer.Option(0.9, help="Share of the words' macro-F1 the concepts must reach alone."),
    exclude_branch: Optional[List[str]] = ExcludeOpt,
    aliases: Optional[Path] = AliasesOpt,
    generic_zipf: Optional[float] = GenericOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Does the ontology describe the labels? Words vs words + linked concepts, cross-validated on the training data.

    Prints the recommended `train`/`compare` options. Example: kgenhance probe -o graphs/hpo/hp.obo
    --train examples/data/medical_abstracts/train.csv --max-train-samples 500
    """
    from ..link import EntityLinker, LinkerConfig
    from ..train.probe import format_probe, probe_concepts

    graph = _with_aliases(_load(ontology), aliases)
    linker = EntityLinker(graph, LinkerConfig(exclude_branches=tuple(exclude_branch or ()), generic_zipf=generic_zipf))
    result = probe_concepts(train_file, linker, folds=folds, max_train_samples=max_train_samples, seed=seed,
                            min_gain=min_gain, min_ratio=min_ratio, text_column=text_column,
                            label_column=label_column, progress=_progress())
    if as_json:
        _print_json(result.to_dict())
    else:
        typer.echo(format_probe(result))


@app.command()
def compare(
    train_file: Path = typer.Option(..., "--train", help="Training data (CSV/TSV/JSONL/Parquet)."),
    validation: Path = typer.Option(..., "--validation", help="Validation data: every run is scored on it."),
    out: Path = typer.Option(..., "--out", help="Directory for compare.json, compare.png and each run's metrics."),
    ontology: List[Path] = typer.Option(..., "--ontology", "-o", help="Ontology file or directory (repeatable)."),
    seeds: int = typer.Option(3, "--seeds", min=1, help="Number of seeds: --seed, --seed+1, …"),
    seed: int = typer.Option(42, help="First seed."),
    train_sizes: Optional[str] = typer.Option(
        None, "--train-sizes", help="Comma-separated training-set sizes for a learning curve, e.g. 100,500,all."
    ),
    text_column: str = typer.Option("text", help="Column of texts."),
    label_column: str = typer.Option("label", help="Column of labels."),
    backbone: Optional[str] = typer.Option(None, help="Local Hugging Face encoder directory (default: the bundled all-MiniLM-L6-v2)."),
    epochs: int = typer.Option(3, help="Epochs per run."),
    batch_size: int = typer.Option(16, help="Batch size."),
    max_length: int = typer.Option(128, help="Maximum word pieces per text."),
    learning_rate: float = typer.Option(5e-5, help="Learning rate of the encoder."),
    knowledge_learning_rate: Optional[float] = KnowledgeLROpt,
    max_eval_samples: Optional[int] = typer.Option(None, help="Use a seeded random subset of the validation data."),
    lora: bool = typer.Option(False, "--lora", help="LoRA on the encoder in both models."),
    encoder_epochs: int = typer.Option(30, help="GNN epochs (the entity embeddings are trained once per seed)."),
    gnn: str = GnnOpt,
    exclude_branch: Optional[List[str]] = ExcludeOpt,
    aliases: Optional[Path] = AliasesOpt,
    save_models: bool = typer.Option(False, "--save-models", help="Keep every trained model under OUT/runs/."),
    fusion: str = FusionOpt,
    gate: bool = GateOpt,
    hierarchy_dim: int = HierarchyOpt,
    knowledge_layer: Optional[int] = KnowledgeLayerOpt,
    entity_text: int = EntityTextOpt,
    entity_text_visibility: bool = VisibilityOpt,
    pool_names: bool = PoolNamesOpt,
    concept_bag: bool = ConceptBagOpt,
    concept_learning_rate: float = ConceptLROpt,
    concept_bag_dropout: float = ConceptDropOpt,
    concept_weight_decay: Optional[float] = ConceptDecayOpt,
    prefix_length: int = PrefixOpt,
    generic_zipf: Optional[float] = GenericOpt,
    auto: bool = AutoOpt,
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print compare.json instead of the table."),
) -> None:
    """Knowledge-aware vs the identical no-knowledge baseline over several seeds: mean ± 95% CI and the paired difference.

    Example: kgenhance compare -o graphs/hpo/hp.obo --train examples/data/medical_abstracts/train.csv
    --validation examples/data/medical_abstracts/validation.csv --out runs/compare --train-sizes 100,500 --seeds 3
    """
    from ..encode import EncoderConfig
    from ..link import LinkerConfig
    from ..train import CompareConfig, TrainingConfig, compare_models
    from ..train.compare import format_summary

    sizes: tuple = (None,)
    if train_sizes:
        parsed = []
        for part in train_sizes.split(","):
            part = part.strip().lower()
            if part == "all":
                parsed.append(None)
            elif part.isdigit():
                parsed.append(int(part))
            else:
                raise ConfigError(f"--train-sizes: {part!r} is neither a number nor 'all'")
        sizes = tuple(parsed)
    options = _model_options(  # checked before the graph is loaded
        fusion, gate, hierarchy_dim, knowledge_layer, entity_text, entity_text_visibility, concept_bag, pool_names,
        concept_bag_dropout)
    graph = _with_aliases(_load(ontology), aliases)
    cfg = CompareConfig(
        seeds=tuple(range(seed, seed + seeds)),
        train_sizes=sizes,
        training=TrainingConfig(
            epochs=epochs, batch_size=batch_size, max_length=max_length, learning_rate=learning_rate,
            knowledge_learning_rate=knowledge_learning_rate, concept_learning_rate=concept_learning_rate,
            concept_weight_decay=concept_weight_decay,
            max_eval_samples=max_eval_samples, text_column=text_column, label_column=label_column, lora=lora,
            prefix_length=prefix_length, device=device,
        ),
    )
    result = compare_models(
        train_file, validation, out, graph=graph, config=cfg, backbone=backbone,
        linker_config=LinkerConfig(exclude_branches=tuple(exclude_branch or ()), generic_zipf=generic_zipf),
        encoder_config=EncoderConfig(epochs=encoder_epochs, device=device, encoder=gnn),
        model_options=options,
        save_models=save_models, progress=_progress(), auto_settings=auto,
    )
    if as_json:
        _print_json(result)
    else:
        typer.echo(format_summary(result))
    typer.echo(f"compare.json and compare.png -> {out}", err=True)
