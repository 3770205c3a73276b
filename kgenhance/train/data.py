"""Labelled texts from CSV, TSV, JSON Lines, Parquet files or `datasets` objects."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import DataError

_FORMATS = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


@dataclass
class Examples:
    """Texts with their (string) labels, as read from one source."""

    texts: list[str]
    labels: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, n: int | None, seed: int) -> "Examples":
        """The first `n` examples of a seeded shuffle (all of them if `n` is None or larger)."""
        if n is None or n >= len(self.texts):
            return self
        if n < 1:
            raise DataError(f"max samples must be at least 1, not {n}")
        order = list(range(len(self.texts)))
        random.Random(seed).shuffle(order)
        keep = sorted(order[:n])
        return Examples([self.texts[i] for i in keep], [self.labels[i] for i in keep], self.source)


def check_utf8(path: Path) -> None:
    """Raise `DataError` naming the line and byte of the first invalid UTF-8 sequence in a text file."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 (byte {data[exc.start:exc.start + 1]!r} at column {column})") from exc


def _load_dataset(path: Path):
    import datasets

    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: unknown data format (expected .csv .tsv .jsonl .json .parquet)")
    if fmt != "parquet":
        check_utf8(path)
    kwargs: dict[str, Any] = {"sep": "\t"} if path.suffix.lower() == ".tsv" else {}
    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(fmt, data_files=str(path), split="train", **kwargs)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 text (byte {exc.start})") from exc
    except Exception as exc:  # datasets wraps parser errors in many types
        cause = exc.__cause__ or exc
        raise DataError(f"{path}: cannot read ({type(cause).__name__}: {str(cause).splitlines()[0][:200]})") from exc
    finally:
        datasets.enable_progress_bars()


def load_examples(
    source: str | Path | Any,
    text_column: str = "text",
    label_column: str | None = "label",
) -> Examples:
    """Read texts and labels; `source` is a file path, a `datasets.Dataset` or a list of dicts.

    With ``label_column=None`` only texts are read (labels are empty strings).
    """
    name = str(source) if isinstance(source, (str, Path)) else type(source).__name__
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise DataError(f"{path}: the file is empty")
        source = _load_dataset(path)
    columns = _columns(source)
    needed = [text_column] + ([label_column] if label_column else [])
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(
            f"{name}: no column {', '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(map(str, columns)) or 'none'}; use --text-column / --label-column)"
        )
    texts, labels = [], []
    for i, row in enumerate(_rows(source)):
        text = row.get(text_column)
        if text is None:
            raise DataError(f"{name}: row {i + 1} has no {text_column!r} value")
        texts.append(str(text))
        if label_column:
            label = row.get(label_column)
            if label is None or str(label).strip() == "":
                raise DataError(f"{name}: row {i + 1} has no {label_column!r} value")
            labels.append(str(label).strip())
        else:
            labels.append("")
    if not texts:
        raise DataError(f"{name}: no rows")
    return Examples(texts, labels, name)


def _columns(source: Any) -> list[str]:
    if hasattr(source, "column_names"):
        cols = source.column_names
        return list(cols) if not isinstance(cols, dict) else list(next(iter(cols.values())))
    if isinstance(source, list):
        return sorted({k for row in source if isinstance(row, dict) for k in row})
    raise DataError(f"cannot read examples from a {type(source).__name__}")


def _rows(source: Any) -> Iterable[dict]:
    if isinstance(source, list):
        return source
    return iter(source)


def read_texts(path: str | Path, text_column: str = "text") -> list[str]:
    """Texts to predict on: a CSV/TSV/JSONL/JSON/Parquet file's text column, or a .txt file's lines.

    The same reader as `iter_texts` (blank texts skipped), held in a list.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix.lower() in (".parquet", ".json"):
        return load_examples(path, text_column=text_column, label_column=None).texts
    texts = list(iter_texts(path, text_column))
    if not texts:
        raise DataError(f"{path}: no texts")
    return texts


def iter_texts(path: str | Path, text_column: str = "text") -> Iterator[str]:
    """Texts of a file one at a time, for inputs too large to hold: .txt lines, .jsonl/.csv/.tsv rows.

    Parquet and JSON arrays are read whole (`read_texts`). Blank texts are skipped. A bad
    line raises `DataError` naming the file and line when it is reached.
    """
    import csv
    import json

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".json"):
        yield from read_texts(path, text_column)
        return
    def lines():  # decoded one line at a time, so a bad byte is reported on its own line
        with path.open("rb") as raw:
            for n, data in enumerate(raw, 1):
                try:
                    yield n, data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"{path}:{n}: not valid UTF-8 (byte {data[exc.start:exc.start + 1]!r} at column {exc.start + 1})"
                    ) from exc

    if suffix == ".jsonl":
        for lineno, line in lines():
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path}:{lineno}: not a JSON object ({str(exc)[:80]})") from exc
            if not isinstance(row, dict) or text_column not in row:
                raise DataError(f"{path}:{lineno}: no {text_column!r} field")
            if str(row[text_column]).strip():
                yield str(row[text_column])
    elif suffix in (".csv", ".tsv"):
        reader = csv.DictReader((line for _, line in lines()), delimiter="\t" if suffix == ".tsv" else ",")
        if reader.fieldnames is None or text_column not in reader.fieldnames:
            raise DataError(f"{path}: no {text_column!r} column (columns: {', '.join(reader.fieldnames or [])})")
        for row in reader:
            value = row.get(text_column) or ""
            if value.strip():
                yield value
    else:
        for _, line in lines():
            if line.strip():
                yield line.rstrip("\r\n")
