"""`compare_models` / `kgenhance compare`: seeds, sizes, confidence intervals, paired differences, plot."""

from __future__ import annotations

import json
import math

import pytest

from kgenhance.encode import EncoderConfig
from kgenhance.errors import ConfigError
from kgenhance.train import CompareConfig, TrainingConfig, compare_models, mean_ci

from test_cli import run

FAST = dict(epochs=2, batch_size=8, learning_rate=2e-3, head_learning_rate=5e-3, warmup_ratio=0.0, device="cpu")


def test_mean_ci_matches_the_t_interval_by_hand():
    s = mean_ci([0.60, 0.64, 0.62])
    assert s["mean"] == pytest.approx(0.62)
    assert s["std"] == pytest.approx(0.02)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t(0.975, df=2)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((0.62 - half, 0.62 + half))
    one = mean_ci([0.5])
    assert one["mean"] == 0.5 and one["ci_low"] is None
    with pytest.raises(ValueError):
        mean_ci([])


def test_compare_config_is_checked():
    with pytest.raises(ConfigError, match="seeds repeat"):
        CompareConfig(seeds=(1, 1)).validate()
    with pytest.raises(ConfigError, match="at least 2"):
        CompareConfig(train_sizes=(1,)).validate()


def test_compare_two_seeds_two_sizes(tiny_graph, tiny_backbone, tiny_data, tmp_path):
    train, val = tiny_data
    cfg = CompareConfig(seeds=(1, 2), train_sizes=(8, None), training=TrainingConfig(**FAST))
    result = compare_models(train, val, tmp_path / "cmp", graph=tiny_graph, config=cfg, backbone=str(tiny_backbone),
                            encoder_config=EncoderConfig(dim=16, epochs=2, eval_every=1, negatives=8, device="cpu"),
                            progress=False)
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert list(saved["sizes"]) == ["8", "all"]
    small, full = saved["sizes"]["8"], saved["sizes"]["all"]
    assert [r["seed"] for r in full["runs"]] == [1, 2]
    assert all(r["knowledge"]["train_examples"] == 8 for r in small["runs"])
    assert all(r["knowledge"]["train_examples"] == 16 == r["baseline"]["train_examples"] for r in full["runs"])
    for block in (small, full):
        for metric in ("accuracy", "macro_f1"):
            diffs = [r["knowledge"][metric] - r["baseline"][metric] for r in block["runs"]]
            assert block["difference"][metric]["mean"] == pytest.approx(sum(diffs) / 2)
            means = [r["baseline"][metric] for r in block["runs"]]
            assert block["baseline"][metric]["mean"] == pytest.approx(sum(means) / 2)
        assert all(len(r["knowledge"]["curve"]) == FAST["epochs"] for r in block["runs"])
    png = (tmp_path / "cmp" / "compare.png").read_bytes()
    assert png[:4] == b"\x89PNG"
    run_dir = tmp_path / "cmp" / "runs" / "all" / "knowledge-seed2"
    assert json.loads((run_dir / "metrics.json").read_text())["settings"]["seed"] == 2
    assert (run_dir / "metrics.jsonl").read_text().count('"type": "epoch"') == FAST["epochs"]
    assert not (run_dir / "model.safetensors").exists()  # models are kept only with save_models


def test_compare_cli(capsys, tiny_ttl, tiny_backbone, tiny_data, tmp_path):
    train, val = tiny_data
    code, out, err = run(capsys, "-q", "compare", "-o", str(tiny_ttl), "--train", str(train), "--validation",
                         str(val), "--out", str(tmp_path / "c"), "--backbone", str(tiny_backbone), "--seeds", "2",
                         "--seed", "5", "--epochs", "1", "--batch-size", "8", "--encoder-epochs", "2",
                         "--device", "cpu", "--gnn", "sage")
    assert code == 0, err
    assert "training examples: all (2 seed(s))" in out and "difference" in out and "macro_f1" in out
    saved = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert saved["seeds"] == [5, 6] and saved["entity_encoder"]["encoder"] == "sage"
    code, out, err = run(capsys, "-q", "compare", "-o", str(tiny_ttl), "--train", str(train), "--validation",
                         str(val), "--out", str(tmp_path / "d"), "--train-sizes", "10,lots")
    assert code == 2 and "--train-sizes" in err and "'lots'" in err


def test_compare_auto_settings_probe_each_run_and_use_the_recommendation(tiny_graph, tiny_backbone, tiny_data,
                                                                         tmp_path):
    from kgenhance.model import KnowledgeAwareConfig
    from kgenhance.train.compare import format_summary
    from kgenhance.train.probe import DESCRIBES_LABELS, DOES_NOT

    train, val = tiny_data
    cfg = CompareConfig(seeds=(1,), train_sizes=(None,), training=TrainingConfig(**FAST))
    result = compare_models(train, val, tmp_path / "cmp", graph=tiny_graph, config=cfg, backbone=str(tiny_backbone),
                            encoder_config=EncoderConfig(dim=16, epochs=2, eval_every=1, negatives=8, device="cpu"),
                            model_options={"fusion": "ernie"}, save_models=True, progress=False, auto_settings=True)
    assert result["model_options"] == "auto"
    (run,) = result["sizes"]["all"]["runs"]
    chosen = {s.name: s for s in (DESCRIBES_LABELS, DOES_NOT)}[run["probe"]["settings"]]
    assert run["probe"]["gain"] == pytest.approx(run["probe"]["combined_f1"] - run["probe"]["words_f1"])
    assert 0.0 <= run["probe"]["concepts_f1"] <= 1.0
    saved = KnowledgeAwareConfig.from_pretrained(tmp_path / "cmp" / "runs" / "all" / "knowledge-seed1")
    for key, value in chosen.model_options:
        assert getattr(saved, key) == value  # the probe's settings, not model_options' ERNIE
    metrics = json.loads((tmp_path / "cmp" / "runs" / "all" / "knowledge-seed1" / "metrics.json").read_text())
    assert metrics["settings"]["knowledge_learning_rate"] == chosen.knowledge_learning_rate
    assert f"seed 1 {chosen.name}" in format_summary(result)
