"""The learned mention detector and the linker's use of its spans (tiny random BERT)."""

from __future__ import annotations

import re

import pytest

from kgenhance.errors import ConfigError, ModelError
from kgenhance.link import EntityLinker
from kgenhance.link.detector import (
    AnnotatedText,
    DetectedSpan,
    DetectorConfig,
    MentionDetector,
    train_mention_detector,
    window_tags,
)

DISEASES = ["atrial fibrillation", "cardiac disease", "heart disease", "arrhythmia", "seizures", "convulsion",
            "nervous system disease"]
TEMPLATES = ["the patient had {}", "{} was treated", "a history of {} in the child", "the adult showed {} after therapy",
             "recurrent {} with no findings", "severe {} and mild {}"]


def annotated(template: str, *names: str) -> AnnotatedText:
    text, spans, rest = "", [], template
    for name in names:
        before, rest = rest.split("{}", 1)
        text += before
        spans.append((len(text), len(text) + len(name), "Disease"))
        text += name
    return AnnotatedText(text + rest, spans)


def corpus() -> list[AnnotatedText]:
    out = []
    for i, template in enumerate(TEMPLATES):
        for j, name in enumerate(DISEASES):
            names = (name,) if template.count("{}") == 1 else (name, DISEASES[(j + i + 1) % len(DISEASES)])
            out.append(annotated(template, *names))
    return out


@pytest.fixture(scope="module")
def trained(tiny_backbone):
    cfg = DetectorConfig(backbone=str(tiny_backbone), epochs=30, batch_size=8, learning_rate=3e-3,
                         head_learning_rate=3e-3, max_length=32, stride=8, device="cpu", seed=0)
    return train_mention_detector(corpus(), cfg, progress=False)


def test_window_tags_mark_first_and_inner_pieces(tiny_backbone):
    cfg = DetectorConfig(types=("Disease",))
    det = MentionDetector.from_backbone(DetectorConfig(backbone=str(tiny_backbone), types=("Disease",)))
    text = "the patient had atrial fibrillation and seizures"
    w = det._windows([text])[0]
    tags = [cfg.tags[t] if t >= 0 else None for t in window_tags(w["offsets"], [(16, 35, "Disease"), (40, 48, "Disease")], cfg)]
    words = [text[s:e] if (s, e) != (0, 0) else None for s, e in (o or (0, 0) for o in w["offsets"])]
    assert list(zip(words, tags)) == [
        (None, None), ("the", "O"), ("patient", "O"), ("had", "O"), ("atrial", "B-Disease"),
        ("fibrillation", "I-Disease"), ("and", "O"), ("seizures", "B-Disease"), (None, None),
    ]


def test_trained_detector_finds_mentions_in_new_sentences(trained):
    texts = ["the child had arrhythmia and seizures", "cardiac disease in the patient"]
    found = trained.detect(texts)
    assert [[texts[i][s.start : s.end] for s in spans] for i, spans in enumerate(found)] == [
        ["arrhythmia", "seizures"], ["cardiac disease"]]
    assert all(s.type == "Disease" and 0.5 < s.score <= 1.0 for spans in found for s in spans)
    assert trained.config.types == ("Disease",)  # taken from the data


def test_long_texts_are_read_in_overlapping_windows(trained):
    text = " ".join(["the patient had no findings"] * 20 + ["the adult showed atrial fibrillation"])
    assert len(trained.tokenizer(text)["input_ids"]) > 3 * trained.config.max_length
    spans = trained.detect([text])[0]
    assert [text[s.start : s.end] for s in spans] == ["atrial fibrillation"]
    assert spans[0].end == len(text)


def test_save_and_load_give_the_same_spans(trained, tmp_path):
    trained.save(tmp_path / "det")
    assert {p.name for p in (tmp_path / "det").iterdir()} >= {"detector_config.json", "detector.safetensors"}
    back = MentionDetector.load(tmp_path / "det")
    texts = ["recurrent convulsion with no findings", "the patient had heart disease and arrhythmia"]
    assert back.detect(texts) == trained.detect(texts)
    with pytest.raises(ModelError, match="not a mention detector"):
        MentionDetector.load(tmp_path)


def test_bad_training_data_is_named(tiny_backbone):
    cfg = DetectorConfig(backbone=str(tiny_backbone), epochs=1, device="cpu")
    with pytest.raises(ConfigError, match="annotated text 1: span \\(3, 99\\)"):
        train_mention_detector([AnnotatedText("a b", [(0, 1, "X")]), AnnotatedText("abc", [(3, 99, "X")])], cfg)
    with pytest.raises(ConfigError, match="no mention at all"):
        train_mention_detector([AnnotatedText("nothing here")], cfg)
    with pytest.raises(ConfigError, match="stride"):
        DetectorConfig(max_length=16, stride=8).validate()


def test_word_bounds_and_merging():
    det = MentionDetector.__new__(MentionDetector)  # only _decode's logic: no encoder needed
    det.config = DetectorConfig(types=("D",))
    import numpy as np

    def probs(tag):  # one-hot over O, B-D, I-D
        p = np.zeros(3)
        p[["O", "B-D", "I-D"].index(tag)] = 1.0
        return [p, 1]

    text = "cardiotoxicity and hepatitis"
    # a tag on the first piece only of "cardiotoxicity" marks the word; B then I over two pieces
    table = {(0, 6): probs("B-D"), (6, 14): probs("O"), (15, 18): probs("O"), (19, 24): probs("B-D"),
             (24, 28): probs("I-D")}
    assert [(text[s.start : s.end], s.score) for s in det._decode(text, table)] == [
        ("cardiotoxicity", 1.0), ("hepatitis", 1.0)]


class FixedDetector:
    """Stands in for a trained detector: returns the spans of the given words."""

    def __init__(self, *phrases: str):
        self.phrases = phrases

    def detect(self, texts):
        return [[DetectedSpan(m.start(), m.end(), "D", 0.9) for p in self.phrases for m in re.finditer(re.escape(p), t)]
                for t in texts]


def _linker(tiny_graph, monkeypatch, tmp_path, *phrases, **settings):
    (tmp_path / "detector_config.json").write_text("{}")
    linker = EntityLinker(tiny_graph, detector=str(tmp_path), fuzzy_threshold=0.5, **settings)
    monkeypatch.setattr(linker, "_detector", FixedDetector(*phrases))
    return linker


def test_linker_links_detected_spans_and_keeps_nil_ones(tiny_graph, monkeypatch, tmp_path):
    text = "The patient had atrial fibrilation, seizures and a rash; heart disease too."
    linker = _linker(tiny_graph, monkeypatch, tmp_path, "atrial fibrilation", "seizures", "rash",
                     keep_unlinked=True, detector_fuzzy_threshold=0.7, detector_mode="spans")
    got = [(m.surface, m.label, m.match) for m in linker.link(text)]
    assert got == [("atrial fibrilation", "atrial fibrillation", "fuzzy"),  # misspelt: fuzzy candidate
                   ("seizures", "seizure", "exact"),
                   ("rash", "", "nil")]  # no entity fits: NIL; "patient", "heart disease" not detected
    assert linker.link(text)[2].entity_id == -1 and linker.link(text)[2].to_dict()["entity"] == ""
    strict = _linker(tiny_graph, monkeypatch, tmp_path, "atrial fibrilation", "rash", detector_fuzzy_threshold=0.99,
                     detector_mode="spans")
    assert strict.link(text) == []  # below the threshold, and NIL mentions are left out by default


@pytest.mark.parametrize("mode, expected", [
    # detected: "heart disease too" (wider than the dictionary's "heart disease") and "seizures"
    ("spans", ["seizures"]),  # "heart disease too" has no entity: nil, left out
    ("union", ["patient", "seizures"]),  # + dictionary mentions outside the detected spans
    ("fill", ["patient", "seizures", "heart disease"]),  # dictionary first, detected spans fill the gaps
    ("confirm", ["seizures", "heart disease"]),  # dictionary mentions a detected span overlaps
])
def test_detector_modes_combine_spans_and_dictionary(tiny_graph, monkeypatch, tmp_path, mode, expected):
    text = "The patient had seizures; heart disease too."
    linker = _linker(tiny_graph, monkeypatch, tmp_path, "seizures", "heart disease too", detector_mode=mode)
    assert [m.surface for m in linker.link(text)] == expected
    assert [[m.surface for m in ms] for ms in linker.link_batch([text, "seizures"])] == [expected, ["seizures"]]
    with pytest.raises(ConfigError, match="detector_mode"):
        EntityLinker(tiny_graph, detector_mode="both")


def test_linker_refuses_a_directory_without_a_detector(tiny_graph, tmp_path):
    with pytest.raises(ConfigError, match="not a trained mention detector"):
        EntityLinker(tiny_graph, detector=str(tmp_path))


def test_cli_trains_a_detector_and_links_with_it(capsys, tiny_ttl, tiny_backbone, tmp_path):
    import json

    from kgenhance.cli import main

    data = tmp_path / "annotated.jsonl"
    data.write_text("".join(json.dumps({"text": ex.text, "mentions": [{"start": s, "end": e, "type": t}
                                                                       for s, e, t in ex.spans]}) + "\n"
                            for ex in corpus()))
    out = tmp_path / "det"
    code = main(["-q", "train-detector", "--data", str(data), "--out", str(out), "--backbone", str(tiny_backbone),
                 "--epochs", "30", "--learning-rate", "3e-3", "--max-length", "32", "--device", "cpu"])
    assert code == 0 and "Disease" in capsys.readouterr().out
    assert json.loads((out / "detector_config.json").read_text())["types"] == ["Disease"]
    text = "the adult showed arrhythmia and seizures"
    code = main(["-q", "link", "-o", str(tiny_ttl), "--text", text, "--detector", str(out), "--detector-mode", "spans",
                 "--keep-unlinked", "--json"])
    mentions = json.loads(capsys.readouterr().out)[0]["mentions"]
    assert code == 0 and [(m["surface"], m["label"]) for m in mentions] == [("arrhythmia", "arrhythmia"),
                                                                            ("seizures", "seizure")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "mentions": []}\n{"text": "broken", "mentions": [{"start": 0}]}\n')
    code = main(["-q", "train-detector", "--data", str(bad), "--out", str(tmp_path / "x")])
    assert code != 0 and "bad.jsonl, line 2" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_detector_linker_on_bad_input(trained, tiny_graph, tmp_path):
    """Empty text, a 1 MB text and non-UTF-8 bytes through a linker that runs a real detector."""
    import time

    from kgenhance.errors import DataError

    trained.save(tmp_path / "det")
    linker = EntityLinker(tiny_graph, detector=str(tmp_path / "det"), detector_mode="spans", keep_unlinked=True)
    assert linker.link("") == [] and linker.link("   ") == [] and linker.link_batch([]) == []
    unit = "the patient had atrial fibrillation and no findings. "
    text = unit * (1_000_000 // len(unit) + 1)
    t = time.perf_counter()
    mentions = linker.link(text)
    assert len(mentions) == text.count("atrial fibrillation")  # every window read, none twice
    assert all(text[m.start : m.end] == "atrial fibrillation" and m.label == "atrial fibrillation" for m in mentions)
    assert time.perf_counter() - t < 120
    with pytest.raises(DataError, match="not valid UTF-8"):
        linker.link(b"seizures \xff\xfe and more")
    assert [m.surface for m in linker.link("seizures".encode())] == ["seizures"]
