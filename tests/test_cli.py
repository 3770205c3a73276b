"""The `kgenhance` command line: JSON contracts, the train → predict → evaluate path, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgenhance.cli import main

from conftest import write_csv


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_html_view(page: str, text: str, surfaces: list[str]) -> None:
    """A self-contained page whose <mark>s sit exactly on the given spans of `text`."""
    import html
    import re

    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert not re.search(r'(src|href)="https?://', page)  # no CDN or remote asset
    marks = re.findall(r'<mark [^>]*data-start="(\d+)" data-end="(\d+)"[^>]*>(.*?)</mark>', page)
    for start, end, inner in marks:
        assert html.unescape(inner) == text[int(start):int(end)]
    assert [text[int(s):int(e)] for s, e, _ in marks] == surfaces
    assert "&lt;b&gt;" in page  # the text is escaped, not injected


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("kgenhance ")


def test_graph_stats_json(capsys, tiny_ttl):
    code, out, _ = run(capsys, "-q", "graph", "stats", str(tiny_ttl), "--json", "--by-relation")
    assert code == 0
    stats = json.loads(out)
    for key in ("triples", "entities", "relations", "edges", "classes", "labelled_entities", "synonyms",
                "unresolved_imports"):
        assert key in stats
    assert stats["entities"] == 11 and stats["edges"] == 9 and stats["synonyms"] == 4
    assert stats["unresolved_imports"] == ["http://example.org/remote-ontology"]
    assert sum(stats["by_relation"].values()) == 9


def test_graph_stats_lang_and_export(capsys, tiny_ttl, tmp_path):
    code, out, _ = run(capsys, "-q", "graph", "stats", str(tiny_ttl), "--lang", "fr", "--by-relation")
    assert code == 0 and "subClassOf" in out and "has condition" in out
    target = tmp_path / "tiny.nt"
    code, out, _ = run(capsys, "-q", "graph", "export", str(tiny_ttl), "--format", "nt", "--out", str(target))
    assert code == 0 and f"wrote {target}" in out
    from kgenhance.graph import load_graph

    assert len(load_graph(target, cache=False).edges) == 9
    code, _, err = run(capsys, "-q", "graph", "export", str(tiny_ttl), "--format", "csv", "--out", str(target))
    assert code != 0 and "unknown export format" in err
    assert load_graph(target, cache=False).triples > 0  # the earlier export is untouched


def test_link_json_contract(capsys, tiny_ttl, tmp_path):
    code, out, _ = run(capsys, "-q", "link", "--ontology", str(tiny_ttl), "--text", "seizures and AF", "--json")
    assert code == 0
    result = json.loads(out)
    assert result[0]["text"] == "seizures and AF"
    assert [m["label"] for m in result[0]["mentions"]] == ["seizure", "atrial fibrillation"]
    assert set(result[0]["mentions"][0]) == {"start", "end", "surface", "entity", "label", "score"}
    lines = tmp_path / "in.txt"
    lines.write_text("heart disease\n\narrhythmia\n")
    code, out, _ = run(capsys, "-q", "link", "-o", str(tiny_ttl), "--input", str(lines), "--json")
    assert [r["mentions"][0]["label"] for r in json.loads(out)] == ["heart disease", "arrhythmia"]


def test_encode_writes_embeddings(capsys, tiny_ttl, tmp_path):
    out_dir = tmp_path / "emb"
    code, out, _ = run(capsys, "-q", "encode", "-o", str(tiny_ttl), "--out", str(out_dir), "--epochs", "3",
                       "--dim", "8", "--device", "cpu")
    assert code == 0
    assert set(json.loads(out)) >= {"mrr", "hits@10", "entities"}
    assert (out_dir / "entity_embeddings.safetensors").is_file()
    assert set(json.loads((out_dir / "metrics.json").read_text())) >= {"mrr", "hits@10", "entities"}


def test_encode_with_compgcn_rotate_and_sampling(capsys, tiny_ttl, tmp_path):
    out_dir = tmp_path / "emb"
    code, out, err = run(capsys, "-q", "encode", "-o", str(tiny_ttl), "--out", str(out_dir), "--epochs", "3",
                         "--dim", "8", "--device", "cpu", "--encoder", "compgcn", "--decoder", "rotate",
                         "--composition", "corr", "--sampling", "neighbour", "--fanouts", "3,2",
                         "--filter-negatives")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["encoder"], summary["decoder"], summary["sampling"]) == ("compgcn", "rotate", "neighbour")
    saved = json.loads((out_dir / "encoder_config.json").read_text())
    assert saved["fanouts"] == [3, 2] and saved["composition"] == "corr" and saved["filter_negatives"] is True
    code, _, err = run(capsys, "-q", "encode", "-o", str(tiny_ttl), "--out", str(tmp_path / "x"), "--fanouts", "3,a")
    assert code != 0 and "--fanouts" in err
    code, _, err = run(capsys, "-q", "encode", "-o", str(tiny_ttl), "--out", str(tmp_path / "x"), "--encoder", "gat")
    assert code != 0 and "unknown encoder" in err


def test_train_predict_evaluate(capsys, tiny_ttl, tiny_backbone, tiny_data, tmp_path):
    train, val = tiny_data
    model_dir = tmp_path / "model"
    code, out, err = run(capsys, "-q", "train", "-o", str(tiny_ttl), "--train", str(train), "--validation", str(val),
                         "--out", str(model_dir), "--backbone", str(tiny_backbone), "--epochs", "2",
                         "--batch-size", "8", "--encoder-epochs", "2", "--device", "cpu", "--seed", "1")
    assert code == 0, err
    summary = json.loads(out)
    assert 0.0 <= summary["accuracy"] <= 1.0
    assert json.loads((model_dir / "metrics.json").read_text())["use_knowledge"] is True

    code, out, err = run(capsys, "-q", "predict", "--model", str(model_dir), "--text",
                         "the patient had atrial fibrillation", "--text", "no findings", "--explain", "--json")
    assert code == 0, err
    preds = json.loads(out)
    assert len(preds) == 2
    assert set(preds[0]) == {"text", "label", "probabilities", "entities"}
    assert preds[0]["label"] in ("cardio", "neuro")
    assert sum(preds[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    ents = preds[0]["entities"]
    assert [e["label"] for e in ents] == ["patient", "atrial fibrillation"]
    assert set(ents[0]) == {"start", "end", "surface", "entity", "label", "link_score", "weight", "attribution",
                            "ablation_delta", "swap_delta", "swap_entity", "path"}
    af = ents[1]
    assert [p["label"] for p in af["path"]] == ["atrial fibrillation", "arrhythmia", "heart disease", "disease"]
    assert isinstance(af["attribution"], float) and isinstance(af["ablation_delta"], float)
    assert -1.0 <= af["ablation_delta"] <= 1.0
    assert preds[1]["entities"] == []

    page = tmp_path / "view.html"
    code, out, err = run(capsys, "-q", "predict", "--model", str(model_dir), "--text",
                         "the patient had atrial fibrillation <b>", "--html", str(page), "--json")
    assert code == 0, err
    assert "entities" not in json.loads(out)[0]  # --html alone does not change the JSON contract
    assert_html_view(page.read_text(), "the patient had atrial fibrillation <b>", ["patient", "atrial fibrillation"])

    stream = tmp_path / "preds.jsonl"
    code, out, err = run(capsys, "-q", "predict", "--model", str(model_dir), "--input", str(val), "--output",
                         str(stream), "--explain")
    assert code == 0, err
    streamed = [json.loads(line) for line in stream.read_text().splitlines()]
    assert len(streamed) == 16 and set(streamed[0]) == {"text", "label", "probabilities", "entities"}

    code, out, err = run(capsys, "-q", "evaluate", "--model", str(model_dir), "--data", str(val), "--json")
    assert code == 0, err
    scores = json.loads(out)
    assert scores["n"] == 16 and set(scores) == {"n", "accuracy", "macro_f1", "per_label"}
    assert set(scores["per_label"]["cardio"]) >= {"precision", "recall", "f1"}

    odd = write_csv(tmp_path / "odd.csv", [("atrial fibrillation", "cardio"), ("a rash", "derma")])
    code, out, err = run(capsys, "-q", "evaluate", "--model", str(model_dir), "--data", str(odd), "--json")
    assert code == 2 and out == ""
    assert "odd.csv" in err and "data row 2 is 'derma'" in err and err.count("\n") == 1
    code, out, err = run(capsys, "-q", "evaluate", "--model", str(model_dir), "--data", str(odd), "--json",
                         "--allow-unknown-labels")
    assert code == 0 and json.loads(out)["n"] == 2

    code, out, err = run(capsys, "-q", "train", "--no-knowledge", "--train", str(train), "--validation", str(val),
                         "--out", str(tmp_path / "base"), "--backbone", str(tiny_backbone), "--epochs", "1",
                         "--device", "cpu")
    assert code == 0, err
    assert json.loads((tmp_path / "base" / "metrics.json").read_text())["use_knowledge"] is False


@pytest.mark.parametrize(
    "args, message",
    [
        (["graph", "stats", "/nonexistent/onto.owl"], "no such file or directory"),
        (["link", "-o", "/nonexistent.ttl", "--text", "x"], "no such file"),
        (["predict", "--model", "/nonexistent", "--text", "x"], "not a kgenhance model directory"),
        (["train", "--train", "a.csv", "--validation", "b.csv", "--out", "o"], "--ontology is required"),
        (["train", "-o", "x.ttl", "--train", "a.csv", "--validation", "b.csv", "--out", "o",
          "--concept-bag-dropout", "0.5"], "--concept-bag-dropout needs --concept-bag"),
    ],
)
def test_errors_are_one_line_with_exit_2(capsys, args, message):
    code, out, err = run(capsys, "-q", *args)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_bad_columns_and_backbone_leave_out_untouched(capsys, tiny_ttl, tiny_backbone, tmp_path):
    data = write_csv(tmp_path / "d.csv", [("a", "x"), ("b", "y")], header=("body", "label"))
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, "-q", "train", "--no-knowledge", "--train", str(data), "--validation", str(data),
                       "--out", str(out_dir), "--backbone", str(tiny_backbone))
    assert code == 2 and "no column 'text'" in err
    code, _, err = run(capsys, "-q", "train", "--no-knowledge", "--train", str(data), "--validation", str(data),
                       "--out", str(out_dir), "--backbone", str(tmp_path / "nope"), "--text-column", "body")
    assert code == 2 and "no such directory" in err
    assert not out_dir.exists()


def test_console_script_has_no_traceback(tmp_path):
    exe = Path(sys.executable).with_name("kgenhance")
    if not exe.exists():
        pytest.skip("console script not installed")
    bad = tmp_path / "bad.ttl"
    bad.write_text("@prefix : <http://e.org/> .\n:a :b")
    proc = subprocess.run([str(exe), "-q", "graph", "stats", str(bad)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bad.ttl" in proc.stderr and "Traceback" not in proc.stderr


def test_public_api_is_exported():
    import kgenhance

    for name in kgenhance.__all__:
        assert getattr(kgenhance, name) is not None
    with pytest.raises(AttributeError):
        kgenhance.not_a_name  # noqa: B018


def test_link_report_aliases_and_options(capsys, tiny_ttl, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("seizures and an irregular heartbeat\nnothing known here\nrenal colic pain\n")
    code, out, _ = run(capsys, "-q", "link", "-o", str(tiny_ttl), "--input", str(texts), "--report", "--json")
    assert code == 0
    rep = json.loads(out)
    assert rep["texts"] == 3 and rep["mentions"] == 1
    assert abs(rep["coverage"] - 1 / 3) < 1e-9
    assert ["irregular heartbeat", 1] in rep["unlinked_phrases"]
    aliases = tmp_path / "aliases.tsv"
    aliases.write_text("irregular heartbeat\thttp://example.org/med#Arrhythmia\n")
    code, out, _ = run(capsys, "-q", "link", "-o", str(tiny_ttl), "--input", str(texts), "--aliases", str(aliases),
                       "--fuzzy", "--candidates", "--json")
    assert code == 0
    first = json.loads(out)[0]["mentions"]
    assert [m["label"] for m in first] == ["seizure", "arrhythmia"]
    assert first[1]["match"] == "exact" and first[1]["candidates"][0]["label"] == "arrhythmia"
    aliases.write_text("only one column\n")
    code, _, err = run(capsys, "-q", "link", "-o", str(tiny_ttl), "--text", "x", "--aliases", str(aliases))
    assert code == 2 and "aliases.tsv:1" in err


def test_link_html_view(capsys, tiny_ttl, tmp_path):
    page = tmp_path / "links.html"
    text = "seizures and atrial fibrillation <b>"
    code, out, err = run(capsys, "-q", "link", "-o", str(tiny_ttl), "--text", text, "--html", str(page), "--json")
    assert code == 0, err
    assert json.loads(out)[0]["mentions"][0]["label"] == "seizure"
    view = page.read_text()
    assert_html_view(view, text, ["seizures", "atrial fibrillation"])
    assert "arrhythmia" in view  # the path to the root is shown (atrial fibrillation → arrhythmia → …)


def test_link_streams_to_jsonl(capsys, tiny_ttl, tmp_path):
    src = tmp_path / "many.txt"
    src.write_text("".join(f"case {i}: seizures and atrial fibrillation\n" for i in range(4500)))
    out_file = tmp_path / "out.jsonl"
    code, out, err = run(capsys, "-q", "link", "-o", str(tiny_ttl), "--input", str(src), "--output", str(out_file))
    assert code == 0, err
    lines = out_file.read_text().splitlines()
    assert len(lines) == 4500 and "4,500 texts, 9,000 mentions" in err
    first = json.loads(lines[0])
    assert first["text"] == "case 0: seizures and atrial fibrillation"
    assert [m["label"] for m in first["mentions"]] == ["seizure", "atrial fibrillation"]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n" * 3000 + b"bad \xff\n")
    out_file.write_text("previous results\n")
    code, _, err = run(capsys, "-q", "link", "-o", str(tiny_ttl), "--input", str(bad), "--output", str(out_file))
    assert code == 2 and "bad.txt:3001: not valid UTF-8" in err
    assert out_file.read_text() == "previous results\n"  # nothing half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl")] == []


def test_iter_texts_formats(tmp_path):
    from kgenhance.errors import DataError
    from kgenhance.train import iter_texts

    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n\n{"text": "two", "x": 1}\n')
    (tmp_path / "a.csv").write_text('id,text\n1,"multi\nline"\n2,\n3,three\n')
    (tmp_path / "a.tsv").write_text("text\tlabel\nx y\tl\n")
    assert list(iter_texts(tmp_path / "a.jsonl")) == ["one", "two"]
    assert list(iter_texts(tmp_path / "a.csv")) == ["multi\nline", "three"]
    assert list(iter_texts(tmp_path / "a.tsv")) == ["x y"]
    (tmp_path / "b.jsonl").write_text('{"text": "one"}\n{"body": "two"}\n')
    with pytest.raises(DataError, match=r"b.jsonl:2: no 'text' field"):
        list(iter_texts(tmp_path / "b.jsonl"))
    with pytest.raises(DataError, match="no 'body' column"):
        list(iter_texts(tmp_path / "a.csv", "body"))


def test_every_command_has_help_with_an_example():
    import click
    import typer.main

    from kgenhance.cli import app

    root = typer.main.get_command(app)
    ctx = click.Context(root)
    seen = []

    def walk(group, path):
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            seen.append(path + [name])
            assert "Example: kgenhance " in (cmd.help or ""), f"{' '.join(path + [name])} --help has no example"
            if hasattr(cmd, "list_commands"):  # a group (typer may vendor its own click)
                walk(cmd, path + [name])

    walk(root, [])
    assert ["compare"] in seen and ["graph", "stats"] in seen and ["predict"] in seen


def test_train_with_fusion_options_and_visibility(capsys, tiny_ttl, tiny_backbone, tiny_data, tmp_path):
    train, val = tiny_data
    model_dir = tmp_path / "model"
    code, out, err = run(capsys, "-q", "train", "-o", str(tiny_ttl), "--train", str(train), "--validation", str(val),
                         "--out", str(model_dir), "--backbone", str(tiny_backbone), "--epochs", "1",
                         "--batch-size", "8", "--encoder-epochs", "2", "--device", "cpu", "--fusion", "ernie",
                         "--gate", "--entity-text", "2", "--entity-text-visibility", "--gnn", "compgcn",
                         "--concept-bag", "--concept-learning-rate", "0.05", "--no-pool-names",
                         "--concept-bag-dropout", "0.25", "--concept-weight-decay", "0.1")
    assert code == 0, err
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["fusion"] == "ernie" and saved["knowledge_gate"] and saved["entity_text"] == 2
    assert saved["entity_text_visibility"] is True and saved["concept_bag"] is True
    assert saved["entity_text_pooling"] is False
    assert saved["concept_bag_dropout"] == 0.25
    settings = json.loads((model_dir / "metrics.json").read_text())["settings"]
    assert settings["concept_learning_rate"] == 0.05 and settings["concept_weight_decay"] == 0.1
    code, out, err = run(capsys, "-q", "predict", "--model", str(model_dir), "--text", "atrial fibrillation", "--json")
    assert code == 0, err and json.loads(out)[0]["label"]
    assert "concepts" not in json.loads(out)[0]
    code, out, err = run(capsys, "-q", "predict", "--model", str(model_dir), "--text", "atrial fibrillation",
                         "--explain", "--json")
    assert code == 0, err
    voted = {c["label"] for c in json.loads(out)[0]["concepts"]}
    assert {"atrial fibrillation", "arrhythmia", "disease"} <= voted  # the entity and its ancestors
    code, _, err = run(capsys, "-q", "train", "-o", str(tiny_ttl), "--train", str(train), "--validation", str(val),
                       "--out", str(tmp_path / "x"), "--backbone", str(tiny_backbone), "--entity-text-visibility")
    assert code != 0 and "--entity-text" in err
    code, _, err = run(capsys, "-q", "train", "-o", str(tiny_ttl), "--train", str(train), "--validation", str(val),
                       "--out", str(tmp_path / "x"), "--backbone", str(tiny_backbone), "--no-pool-names")
    assert code != 0 and "--entity-text" in err


def test_train_auto_uses_the_probes_recommendation(capsys, tiny_ttl, tiny_backbone, tiny_data, tmp_path):
    from kgenhance.model import KnowledgeAwareConfig
    from kgenhance.train.probe import DESCRIBES_LABELS, DOES_NOT

    train, val = tiny_data
    code, out, err = run(capsys, "-q", "train", "-o", str(tiny_ttl), "--train", str(train), "--validation", str(val),
                         "--out", str(tmp_path / "m"), "--backbone", str(tiny_backbone), "--epochs", "1",
                         "--batch-size", "8", "--encoder-epochs", "2", "--device", "cpu", "--auto",
                         "--fusion", "ernie")
    assert code == 0, err
    line = next(x for x in err.splitlines() if x.startswith("probe: concepts alone"))
    chosen = DESCRIBES_LABELS if DESCRIBES_LABELS.name in line else DOES_NOT
    assert chosen.name in line and " ".join(chosen.flags) in line
    saved = KnowledgeAwareConfig.from_pretrained(tmp_path / "m")
    assert saved.fusion == "kar"  # --auto replaces --fusion ernie
    for key, value in chosen.model_options:
        assert getattr(saved, key) == value
