"""The `kgenhance` command line.

Exit codes: 0 success; 1 unexpected internal error; 2 bad input or usage (missing or
malformed file, unknown column, bad option); 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import click
import typer

from . import __version__
from .errors import ConfigError, DataError, KGEnhanceError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Knowledge-aware BERT classifiers: load an ontology, link entities, train, predict, explain.",
)
graph_app = typer.Typer(
    no_args_is_help=True, help="Inspect ontologies.\n\nExample: kgenhance graph stats graphs/fibo --by-relation"
)
app.add_typer(graph_app, name="graph")

_state = {"quiet": False}

OntologyOpt = typer.Option(..., "--ontology", "-o", help="Ontology file or directory (repeatable).")
GnnOpt = typer.Option("compgcn", "--gnn", help="Entity encoder when embeddings are trained here: compgcn, rgcn or sage.")
ExcludeOpt = typer.Option(None, "--exclude-branch", help="IRI whose whole subtree is never linked (repeatable).")
AliasesOpt = typer.Option(None, "--aliases", help="TSV of extra names: 'name<TAB>entity IRI' per line.")
FuzzyOpt = typer.Option(False, "--fuzzy", help="Add character n-gram candidates for spans that miss the dictionary.")
ContextOpt = typer.Option(False, "--context", help="Re-rank ambiguous mentions by sentence/definition similarity.")
MinScoreOpt = typer.Option(0.0, "--min-score", help="Drop mentions scored below this (0-1).")
AutoOpt = typer.Option(
    False, "--auto", help="Probe the training data (`kgenhance probe`) and use the knowledge settings it recommends "
    "(replaces --fusion, --gate, --entity-text, --concept-bag, --concept-bag-dropout, --knowledge-learning-rate, --generic-zipf).",
)
GenericOpt = typer.Option(
    None, "--generic-zipf", help="Leave one-word names that are common English words (Zipf ≥ this, e.g. 5.0) unlinked."
)


def _with_aliases(graph, aliases: Optional[Path]):
    if aliases is None:
        return graph
    from .link import add_aliases, read_aliases

    return add_aliases(graph, read_aliases(aliases))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kgenhance {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or log messages, results only."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    allow_network: bool = typer.Option(
        False, "--allow-network", help="Fetch http(s) owl:imports and JSON-LD contexts (off: nothing is downloaded)."
    ),
    allow_outside_imports: bool = typer.Option(
        False, "--allow-outside-imports", help="Follow catalog entries that point outside the named folders."
    ),
) -> None:
    _state["quiet"] = quiet
    _state["allow_network"] = allow_network
    _state["allow_outside_imports"] = allow_outside_imports
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr, force=True
    )
    for noisy in ("httpx", "urllib3", "datasets", "transformers", "torch_geometric"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
        logging.getLogger("kgenhance").setLevel(logging.WARNING)


def _progress() -> bool:
    return not _state["quiet"]


def _print_json(obj) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False))


def _load(paths: List[Path], no_cache: bool = False, lang: str = "en"):
    from .graph import load_graph

    return load_graph(
        *paths,
        cache=not no_cache,
        lang=lang,
        progress=_progress(),
        allow_network=bool(_state.get("allow_network")),
        allow_outside_imports=bool(_state.get("allow_outside_imports")),
    )


def _chunks(items, size: int):
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _stream_jsonl(output: Path, text, input_file, text_column: str, size: int, work) -> tuple[int, int]:
    """Write one JSON line per text to `output` (atomically), reading and processing `size` texts at a time."""
    from ._io import atomic_path

    source = _texts(text, input_file, text_column, stream=True)
    n_texts = n_items = 0
    bar = None
    if _progress():
        from tqdm.auto import tqdm

        bar = tqdm(desc="texts", unit="text", disable=None)
    try:
        with atomic_path(output) as tmp, tmp.open("w", encoding="utf-8") as fh:
            for chunk in _chunks(source, size):
                for record, n in work(chunk):
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    n_items += n
                n_texts += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return n_texts, n_items


def _texts(text: Optional[List[str]], input_file: Optional[Path], text_column: str, stream: bool = False):
    """The --text values or the --input file's texts (a list, or read lazily with `stream`)."""
    from .train import iter_texts, read_texts

    if bool(text) == bool(input_file):
        raise ConfigError("give either --text (repeatable) or --input FILE")
    if text:
        return list(text)
    return iter_texts(input_file, text_column) if stream else read_texts(input_file, text_column)


FusionOpt = typer.Option("kar", "--fusion", help="kar (word pieces attend to entities) or ernie (entity fused at a mention's first word piece).")
GateOpt = typer.Option(False, "--gate/--no-gate", help="A learned per-word-piece gate on the knowledge update.")
HierarchyOpt = typer.Option(0, "--hierarchy-dim", min=0, help="Trainable hierarchy features per entity (mean over its ancestors); 0 = off.")
KnowledgeLayerOpt = typer.Option(None, "--knowledge-layer", min=1, help="Encoder layers below the knowledge layer (default: 2/3 up).")
KnowledgeLROpt = typer.Option(
    None, "--knowledge-learning-rate", help="Learning rate of the knowledge layer and hierarchy features (default: the head's, 1e-3)."
)
EntityTextOpt = typer.Option(0, "--entity-text", min=0, help="Append the names of this many linked entities (and 2 super-classes each) to the input; 0 = off.")
PrefixOpt = typer.Option(0, "--prefix-length", min=0, help="Prefix tuning: this many trainable key/value vectors per attention layer, the encoder frozen (BERT/RoBERTa); 0 = off.")
ConceptBagOpt = typer.Option(
    False, "--concept-bag", help="Add a bag-of-concepts head: linked entities and their is_a ancestors vote on the label."
)
ConceptLROpt = typer.Option(3e-2, "--concept-learning-rate", help="Learning rate of the bag-of-concepts head's weights.")
ConceptDropOpt = typer.Option(
    0.0, "--concept-bag-dropout", min=0.0, max=0.99,
    help="In training, leave a text's bag-of-concepts logits out with this chance (the encoder learns to decide alone too).")
ConceptDecayOpt = typer.Option(
    None, "--concept-weight-decay", min=0.0, help="Weight decay of the bag-of-concepts head (default: the model's, 0.01).")
VisibilityOpt = typer.Option(False, "--entity-text-visibility", help="K-BERT visibility: appended names are seen only by their own mention's word pieces.")
PoolNamesOpt = typer.Option(
    True, "--pool-names/--no-pool-names",
    help="Whether the appended names' word pieces are part of the classifier's mean pooling (--no-pool-names: the text's only).")


def _model_options(fusion: str, gate: bool, hierarchy_dim: int, knowledge_layer: Optional[int],
                   entity_text: int = 0, visibility: bool = False, concept_bag: bool = False,
                   pool_names: bool = True, concept_bag_dropout: float = 0.0) -> dict:
    options: dict = {"fusion": fusion, "knowledge_gate": gate, "hierarchy_dim": hierarchy_dim,
                     "entity_text": entity_text}
    if concept_bag:
        options["concept_bag"] = True
    if concept_bag_dropout:
        if not concept_bag:
            raise ConfigError("--concept-bag-dropout needs --concept-bag: the head it applies to")
        options["concept_bag_dropout"] = concept_bag_dropout
    if visibility:
        options["entity_text_visibility"] = True
    if not pool_names:
        options["entity_text_pooling"] = False
    if knowledge_layer is not None:
        options["knowledge_layer"] = knowledge_layer
    return options


# ---------------------------------------------------------------------- graph
@graph_app.command("stats")
def graph_stats(
    ontology: List[Path] = typer.Argument(..., help="Ontology files or directories."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    by_relation: bool = typer.Option(False, "--by-relation", help="Also count edges per relation type."),
    lang: str = typer.Option("en", "--lang", help="Preferred language of labels."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse the files even if a cached graph exists."),
) -> None:
    """Count triples, entities, relations, edges, labels and unresolved imports.

    Example: kgenhance graph stats graphs/hpo/hp.obo --json
    """
    graph = _load(ontology, no_cache, lang)
    stats = graph.stats()
    if by_relation:
        stats["by_relation"] = graph.relation_counts()
    if as_json:
        _print_json(stats)
        return
    for key, value in stats.items():
        if key in ("unresolved_imports", "by_relation"):
            continue
        typer.echo(f"{key:>20}: {value:,}")
    typer.echo(f"{'unresolved_imports':>20}: {len(stats['unresolved_imports'])}")
    for iri in stats["unresolved_imports"]:
        typer.echo(f"{'':>22}{iri}")
    for rel, count in stats.get("by_relation", {}).items():
        typer.echo(f"{count:>12,}  {graph.relation_label(rel)}  <{rel}>")


@graph_app.command("export")
def graph_export(
    ontology: List[Path] = typer.Argument(..., help="Ontology files or directories."),
    fmt: str = typer.Option(..., "--format", "-f", help="networkx-graphml, pyg (safetensors) or nt (N-Triples)."),
    out: Path = typer.Option(..., "--out", "-o", help="File to write (atomically)."),
    lang: str = typer.Option("en", "--lang", help="Preferred language of labels."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse the files even if a cached graph exists."),
) -> None:
    """Write the loaded graph as GraphML, PyG tensors or N-Triples.

    Example: kgenhance graph export graphs/hpo/hp.obo --format pyg --out hpo.safetensors
    """
    from .graph.export import export_graph

    graph = _load(ontology, no_cache, lang)
    for path in export_graph(graph, out, fmt):
        typer.echo(f"wrote {path} ({path.stat().st_size:,} bytes)")


# ---------------------------------------------------------------------- link
@app.command()
def link(
    ontology: List[Path] = OntologyOpt,
    text: Optional[List[str]] = typer.Option(None, "--text", "-t", help="Text to link (repeatable)."),
    input_file: Optional[Path] = typer.Option(None, "--input", "-i", help="CSV/JSONL/Parquet (text column) or .txt (one text per line)."),
    text_column: str = typer.Option("text", help="Column holding the texts in --input."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    candidates: bool = typer.Option(False, "--candidates", help="Include every candidate entity with its score."),
    overlapping: bool = typer.Option(False, "--overlapping", help="Keep nested mentions, not only the longest."),
    exclude_branch: Optional[List[str]] = ExcludeOpt,
    aliases: Optional[Path] = AliasesOpt,
    fuzzy: bool = FuzzyOpt,
    context: bool = ContextOpt,
    min_score: float = MinScoreOpt,
    report: bool = typer.Option(False, "--report", help="Print corpus diagnostics instead of the mentions."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Also write a self-contained HTML page of the mentions."),
    output: Optional[Path] = typer.Option(
        None, "--output", help="Stream results to this JSON Lines file (any input size, bounded memory)."
    ),
    n_process: int = typer.Option(1, "--n-process", help="Worker processes for large inputs."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Parse the ontology even if a cached graph exists."),
    generic_zipf: Optional[float] = GenericOpt,
    detector: Optional[Path] = typer.Option(
        None, "--detector", help="A trained mention detector (kgenhance train-detector): its spans become the mentions."
    ),
    keep_unlinked: bool = typer.Option(
        False, "--keep-unlinked", help="With --detector: also print detected spans no entity fits (NIL)."
    ),
    detector_mode: str = typer.Option(
        "fill", "--detector-mode",
        help="With --detector: spans (detected only), union (+ dictionary outside them), fill (dictionary + "
             "detected spans outside it) or confirm (dictionary mentions a detected span overlaps + other detected spans).",
    ),
) -> None:
    """Find ontology entities in texts.

    Example: kgenhance link -o graphs/hpo/hp.obo --text "Seizures and atrial fibrillation." --json
    """
    from .link import EntityLinker

    if output is not None and report:
        raise ConfigError("--report and --output cannot be combined")
    texts = _texts(text, input_file, text_column) if output is None else []
    graph = _with_aliases(_load(ontology, no_cache), aliases)
    linker = EntityLinker.from_graph(
        graph,
        overlapping=overlapping,
        exclude_branches=tuple(exclude_branch or ()),
        fuzzy=fuzzy,
        context=context,
        min_score=min_score,
        generic_zipf=generic_zipf,
        detector=str(detector) if detector is not None else None,
        keep_unlinked=keep_unlinked,
        detector_mode=detector_mode,
    )
    if output is not None:
        def work(chunk):
            for t, ms in zip(chunk, linker.link_batch(chunk, n_process=n_process)):
                yield {"text": t, "mentions": [m.to_dict(candidates) for m in ms]}, len(ms)

        n_texts, n_mentions = _stream_jsonl(output, text, input_file, text_column, 2000, work)
        typer.echo(f"{n_texts:,} texts, {n_mentions:,} mentions -> {output}", err=True)
        return
    if report:
        rep = linker.report(texts)
        if as_json:
            _print_json(rep.to_dict())
        else:
            typer.echo(rep.format())
        return
    linked = linker.link_batch(texts, n_process=n_process)
    if html_out is not None:
        from .htmlview import mentions_html, write_html

        write_html(html_out, mentions_html(texts, linked, graph))
        typer.echo(f"HTML view -> {html_out}", err=True)
    results = [{"text": t, "mentions": [m.to_dict(candidates) for m in ms]} for t, ms in zip(texts, linked)]
    if as_json:
        _print_json(results)
        return
    for r in results:
        typer.echo(r["text"])
        for m in r["mentions"]:
            target = f"{m['label']} <{m['entity']}>" if m["entity"] else "(no entity: NIL)"
            typer.echo(f"  [{m['start']}:{m['end']}] {m['surface']!r} → {target} score {m['score']}")
        if not r["mentions"]:
            typer.echo("  (no entities)")


@app.command("train-detector")
def train_detector(
    data: Path = typer.Option(..., "--data", help="JSON Lines: {'text': …, 'mentions': [{'start', 'end', 'type'?}, …]} per line."),
    out: Path = typer.Option(..., "--out", help="Directory to write the detector to (atomically)."),
    types: Optional[List[str]] = typer.Option(None, "--type", help="Mention types to learn (default: every type in the data)."),
    backbone: Optional[str] = typer.Option(None, help="Local encoder directory (default: bundled all-MiniLM-L6-v2)."),
    epochs: int = typer.Option(10, help="Training epochs."),
    learning_rate: float = typer.Option(1e-4, help="Encoder learning rate (the tag head's is 1e-3)."),
    max_length: int = typer.Option(256, help="Word pieces per window."),
    seed: int = typer.Option(42),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
) -> None:
    """Train a mention detector on annotated texts, for `kgenhance link --detector`.

    Example: kgenhance train-detector --data annotated.jsonl --out runs/detector
    """
    from .link.detector import AnnotatedText, DetectorConfig, train_mention_detector

    examples = []
    try:
        lines = data.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{data}: cannot read ({exc})") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            spans = [(int(m["start"]), int(m["end"]), str(m.get("type") or "mention")) for m in row.get("mentions", [])]
            examples.append(AnnotatedText(str(row["text"]), spans))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"{data}, line {n}: expected {{'text': …, 'mentions': [{{'start', 'end'}}, …]}} ({exc})") from exc
    if types:
        examples = [AnnotatedText(ex.text, [s for s in ex.spans if s[2] in types]) for ex in examples]
    found = tuple(sorted({t for ex in examples for _, _, t in ex.spans})) or ("mention",)
    cfg = DetectorConfig(backbone=backbone, types=tuple(types) if types else found, epochs=epochs,
                         learning_rate=learning_rate, head_learning_rate=max(learning_rate, 1e-3),
                         max_length=max_length, stride=min(64, max_length // 4), seed=seed, device=device)
    detector = train_mention_detector(examples, cfg)
    detector.save(out)
    typer.echo(f"mention detector ({', '.join(cfg.types)}; {len(examples)} texts) -> {out}")


# ---------------------------------------------------------------------- encode
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
    from .encode import EncoderConfig, train_entity_encoder

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
    from .encode import EncoderConfig, EntityEmbeddings
    from .link import LinkerConfig
    from .train import TrainingConfig, train_classifier

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
    from .train.probe import probe_run

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
    from .link import EntityLinker, LinkerConfig
    from .train import PretrainConfig, pretrain_backbone

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
    from .link import EntityLinker, LinkerConfig
    from .train.probe import format_probe, probe_concepts

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
    from .encode import EncoderConfig
    from .link import LinkerConfig
    from .train import CompareConfig, TrainingConfig, compare_models
    from .train.compare import format_summary

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


# ---------------------------------------------------------------------- predict / evaluate
def _load_model(path: Path):
    from .model import KnowledgeAwareClassifier, is_adapter, load_adapter

    if is_adapter(path):
        return load_adapter(path)
    return KnowledgeAwareClassifier.from_pretrained(path)


def _prediction_json(p, explain: bool) -> dict:
    d = p.to_dict()
    if not explain:
        d.pop("entities")
        d.pop("concepts", None)
    else:
        for e in d["entities"]:
            e.pop("candidates", None)
    return d


@app.command()
def predict(
    model: Path = typer.Option(..., "--model", "-m", help="Model directory written by `kgenhance train`."),
    text: Optional[List[str]] = typer.Option(None, "--text", "-t", help="Text to classify (repeatable)."),
    input_file: Optional[Path] = typer.Option(None, "--input", "-i", help="CSV/JSONL/Parquet (text column) or .txt (one text per line)."),
    text_column: str = typer.Option("text", help="Column holding the texts in --input."),
    explain: bool = typer.Option(
        False, "--explain",
        help="List each text's linked entities: attention weight, attribution, ablation delta, path to the root.",
    ),
    attribution_steps: int = typer.Option(
        1, "--attribution-steps", min=1, help="1: gradient × input; more: integrated gradients with that many steps."
    ),
    no_ablation: bool = typer.Option(
        False, "--no-ablation", help="Skip the ablation/swap deltas (they cost one forward pass per entity)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    batch_size: int = typer.Option(32, help="Texts per batch."),
    output: Optional[Path] = typer.Option(
        None, "--output", help="Stream predictions to this JSON Lines file (any input size, bounded memory)."
    ),
    html_out: Optional[Path] = typer.Option(
        None, "--html", help="Also write a self-contained HTML page of the predictions (implies --explain)."
    ),
) -> None:
    """Classify texts, optionally with the entities behind each prediction.

    In the JSON, each entity has `weight` (share of knowledge attention), `attribution`
    (gradient × input of the predicted class's log-probability), `ablation_delta` (change of
    the predicted class's probability without the entity's knowledge), `swap_delta` /
    `swap_entity` (with the linker's runner-up instead) and `path` (up to the root).

    Example: kgenhance predict -m runs/med --text "Atrial fibrillation after cardiac surgery." --explain --json
    """
    options = {"attribution_steps": attribution_steps, "ablation": not no_ablation}
    if output is not None:
        clf = _load_model(model)

        def work(chunk):
            for p in clf.predict(chunk, explain=explain, batch_size=batch_size, warn_truncated=False, **options):
                yield _prediction_json(p, explain), int(p.truncated)

        n_texts, n_truncated = _stream_jsonl(output, text, input_file, text_column, 1024, work)
        if n_truncated:
            logging.getLogger("kgenhance").warning(
                "%d of %d text(s) are longer than the model's %d word pieces: only their beginning was read and linked",
                n_truncated, n_texts, clf.config.max_seq_length,
            )
        typer.echo(f"{n_texts:,} predictions -> {output}", err=True)
        return
    texts = _texts(text, input_file, text_column)
    clf = _load_model(model)
    preds = clf.predict(texts, explain=explain or html_out is not None, batch_size=batch_size,
                        progress=_progress() and len(texts) > batch_size, **options)
    if html_out is not None:
        from .htmlview import predictions_html, write_html

        write_html(html_out, predictions_html(preds, clf.linker.graph if clf.linker is not None else None))
        typer.echo(f"HTML view -> {html_out}", err=True)
    if as_json:
        _print_json([_prediction_json(p, explain) for p in preds])
        return
    for p in preds:
        probs = ", ".join(f"{k}: {v:.3f}" for k, v in sorted(p.probabilities.items(), key=lambda kv: -kv[1]))
        typer.echo(f"{p.label}  ({probs})")
        typer.echo(f"  {p.text[:200]}")
        for e in sorted(p.entities, key=lambda e: -e.weight):
            effect = f" Δp {e.ablation_delta:+.3f}" if e.ablation_delta is not None else ""
            attribution = f" attribution {e.attribution:+.3f}" if e.attribution is not None else ""
            typer.echo(f"    {e.weight:6.3f}  {e.surface!r} → {e.label} <{e.entity}> link {e.link_score:.2f}"
                       f"{attribution}{effect}")
            if len(e.path) > 1:
                typer.echo("           " + " → ".join(step["label"] for step in e.path))


@app.command()
def evaluate(
    model: Path = typer.Option(..., "--model", "-m", help="Model directory written by `kgenhance train`."),
    data: Path = typer.Option(..., "--data", help="Labelled data (CSV/TSV/JSONL/Parquet)."),
    text_column: str = typer.Option("text", help="Column of texts."),
    label_column: str = typer.Option("label", help="Column of labels."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    batch_size: int = typer.Option(64, help="Texts per batch."),
    allow_unknown_labels: bool = typer.Option(
        False, "--allow-unknown-labels", help="Count rows whose label the model does not know as wrong."
    ),
) -> None:
    """Score a model on labelled data: accuracy, macro-F1, per-label precision/recall/F1.

    Example: kgenhance evaluate -m runs/med --data examples/data/medical_abstracts/validation.csv --json
    """
    from .train import evaluate_model, load_examples

    examples = load_examples(data, text_column, label_column)
    clf = _load_model(model)
    known = set(clf.config.label2id)
    unknown = sorted(set(examples.labels) - known)
    if unknown and not allow_unknown_labels:
        row = next(i for i, lab in enumerate(examples.labels, 1) if lab in unknown)
        raise DataError(
            f"{data}: {label_column!r} of data row {row} is {unknown[0]!r}, not one of the model's labels "
            f"({', '.join(sorted(known))}); {len(unknown)} unknown label(s) in all — "
            "pass --allow-unknown-labels to count such rows as wrong"
        )
    if unknown:
        logging.getLogger("kgenhance").warning("labels the model does not know (counted wrong): %s", unknown)
    scores = evaluate_model(clf, examples, batch_size=batch_size, progress=_progress())
    if as_json:
        _print_json(scores)
        return
    typer.echo(f"n = {scores['n']}   accuracy = {scores['accuracy']:.4f}   macro-F1 = {scores['macro_f1']:.4f}")
    for lab, s in scores["per_label"].items():
        typer.echo(f"  {lab:>40}  P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}  n {s['support']}")


# ---------------------------------------------------------------------- demo
@app.command()
def demo(
    out: Path = typer.Option(Path("kgenhance-demo"), "--out", help="Where the two trained models are saved."),
    train_samples: int = typer.Option(600, help="Training abstracts (seeded random subset)."),
    eval_samples: int = typer.Option(300, help="Validation abstracts (seeded random subset)."),
    epochs: int = typer.Option(3, help="Fine-tuning epochs for each model."),
    seed: int = typer.Option(42, help="Random seed."),
) -> None:
    """The main job on the bundled data: HPO + medical abstracts, knowledge-aware vs baseline, explained.

    Example: kgenhance demo --out kgenhance-demo --train-samples 600 --eval-samples 300
    """
    from .demo import run_demo

    run_demo(out, train_samples=train_samples, eval_samples=eval_samples, epochs=epochs, seed=seed,
             progress=_progress())


# ---------------------------------------------------------------------- entry point
def _terminate_as_interrupt() -> None:
    """On SIGTERM (kill, a scheduler's timeout) unwind like Ctrl-C, so temporary files are removed."""
    import signal
    import threading

    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def main(argv: Optional[list[str]] = None) -> int:
    """Console entry point: runs the app and turns errors into one line on stderr."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*TRANSFORMERS_CACHE.*")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    _terminate_as_interrupt()
    try:
        # typer turns Ctrl-C (and our SIGTERM) into Exit(130) and, in this mode, returns the code
        code = app(args=argv, prog_name="kgenhance", standalone_mode=False)
        if code == 130:
            print("kgenhance: interrupted", file=sys.stderr)
        return code if isinstance(code, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        print("kgenhance: interrupted", file=sys.stderr)
        return 130
    except click.ClickException as exc:
        exc.show()
        return 2
    except KeyboardInterrupt:
        print("kgenhance: interrupted", file=sys.stderr)
        return 130
    except (KGEnhanceError, DataError) as exc:
        print(f"kgenhance: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"kgenhance: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if os.environ.get("KGENHANCE_DEBUG"):
            raise
        print(f"kgenhance: internal error: {type(exc).__name__}: {exc} (set KGENHANCE_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
