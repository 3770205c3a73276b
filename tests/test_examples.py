"""The examples run as written (slow: they fine-tune MiniLM on the bundled data)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_python_quickstart():
    proc = subprocess.run([sys.executable, "examples/quickstart.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "'seizures' -> Seizure" in proc.stdout
    assert "validation accuracy" in proc.stdout


@pytest.mark.slow
def test_cli_quickstart(tmp_path):
    exe = Path(sys.executable).with_name("kgenhance")
    if not exe.exists():
        pytest.skip("console script not installed")
    proc = subprocess.run(["bash", "examples/cli_quickstart.sh", str(tmp_path / "run")], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert "accuracy" in proc.stdout


@pytest.mark.slow
def test_demo_runs(tmp_path):
    exe = Path(sys.executable).with_name("kgenhance")
    if not exe.exists():
        pytest.skip("console script not installed")
    proc = subprocess.run([str(exe), "demo", "--out", str(tmp_path / "demo"), "--train-samples", "120",
                           "--eval-samples", "60", "--epochs", "1"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "difference" in proc.stdout and "Three explained predictions" in proc.stdout
    assert (tmp_path / "demo" / "knowledge" / "knowledge_graph.kg").is_file()
