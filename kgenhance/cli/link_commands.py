"""`kgenhance link` and `kgenhance train-detector`: find ontology entities in text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ConfigError, DataError
from ._common import (AliasesOpt, ContextOpt, ExcludeOpt, FuzzyOpt, GenericOpt, MinScoreOpt, OntologyOpt, _load,
                      _print_json, _stream_jsonl, _texts, _with_aliases, app)


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
    from ..link import EntityLinker

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
        from ..htmlview import mentions_html, write_html

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
    from ..link.detector import AnnotatedText, DetectorConfig, train_mention_detector

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
