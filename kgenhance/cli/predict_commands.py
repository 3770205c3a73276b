"""`kgenhance predict|evaluate|demo`: use and score a trained classifier."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import DataError
from ._common import _print_json, _progress, _stream_jsonl, _texts, app


def _load_model(path: Path):
    from ..model import KnowledgeAwareClassifier, is_adapter, load_adapter

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
        from ..htmlview import predictions_html, write_html

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
    from ..train import evaluate_model, load_examples

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
    from ..demo import run_demo

    run_demo(out, train_samples=train_samples, eval_samples=eval_samples, epochs=epochs, seed=seed,
             progress=_progress())
