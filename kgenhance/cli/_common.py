"""What every `kgenhance` command shares: the Typer app, the global options, common options and helpers."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .. import __version__
from ..errors import ConfigError

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
    from ..link import add_aliases, read_aliases

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
    from ..graph import load_graph

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
    from .._io import atomic_path

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
    from ..train import iter_texts, read_texts

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
