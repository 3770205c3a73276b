"""The examples and the demo run as written (slow: they fine-tune MiniLM on the bundled data)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KGENHANCE = Path(sys.executable).with_name("kgenhance")


def run(cmd: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run a command with progress bars off; fail the test with its stderr if it fails."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "TQDM_DISABLE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.slow
def test_python_quickstart():
    out = run([sys.executable, "examples/quickstart.py"]).stdout
    assert "'seizures' -> Seizure" in out
    assert "validation accuracy" in out and "attribution" in out and "path" in out
    code = [x for x in (ROOT / "examples" / "quickstart.py").read_text().splitlines()
            if x.strip() and not x.strip().startswith("#")]
    assert len(code) <= 30 + 4  # "the Python API in 30 lines" (+ the module docstring's 4 lines)


@pytest.mark.slow
def test_medical_end_to_end_example():
    out = run([sys.executable, "examples/medical_end_to_end.py"]).stdout
    assert "linker on 300 training abstracts: coverage" in out
    assert "validation (n=405): accuracy" in out
    assert "Δp without it" in out and " → " in out
    assert (ROOT / "runs" / "medical" / "training_curves.png").is_file()
    page = (ROOT / "runs" / "medical" / "predictions.html").read_text()
    assert page.count("<article") == 12


@pytest.mark.slow
def test_fibo_example():
    out = run([sys.executable, "examples/fibo_linking.py"]).stdout
    assert "FIBO: 8,799 entities" in out
    assert "'credit default swaps'   credit default swap" in out
    assert "path: mortgage → security agreement → collateral agreement" in out
    assert "path: Euro → currency" in out  # an individual's path goes through its class
    assert (ROOT / "runs" / "fibo_links.html").is_file()


@pytest.mark.slow
def test_lora_example():
    out = run([sys.executable, "examples/lora_finetuning.py"]).stdout
    line = next(x for x in out.splitlines() if x.startswith("encoder parameters trained"))
    share = float(line.split("(")[1].split("%")[0])
    assert 0 < share < 2  # only the adapters train inside the encoder
    assert "validation accuracy" in out and "Δp without it" in out
    adapter_mb = float(out.split("adapter file: ")[1].split(" MB")[0])
    base_mb = float(out.split("weights: ")[1].split(" MB")[0])
    assert adapter_mb < base_mb / 5


@pytest.mark.slow
def test_domain_adaptation_example():
    out = run([sys.executable, "examples/domain_adaptation.py"]).stdout
    line = next(x for x in out.splitlines() if x.startswith("held-out masked-LM loss"))
    before, after = (float(v) for v in line.split("loss ")[1].split(" (")[0].split(" -> "))
    assert after < before  # the encoder adapted to the domain's text
    assert "entity mentions" in line and "classifier on the adapted encoder: validation accuracy" in out


@pytest.mark.slow
def test_linking_example():
    out = run([sys.executable, "examples/linking.py"]).stdout
    assert "'oesophagitis'                   -> Esophagitis  [exact" in out
    assert "('atrial fibrilation', 'Atrial fibrillation', 'fuzzy')" in out
    assert "[('fits', 'Seizure')]" in out
    assert "most frequent unlinked phrases" in out


@pytest.mark.slow
@pytest.mark.skipif(not KGENHANCE.exists(), reason="console script not installed")
def test_cli_quickstart(tmp_path):
    out = run(["bash", "examples/cli_quickstart.sh", str(tmp_path / "run")]).stdout
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    assert "accuracy" in out


@pytest.mark.slow
@pytest.mark.skipif(not KGENHANCE.exists(), reason="console script not installed")
def test_demo_runs(tmp_path):
    out = run([str(KGENHANCE), "demo", "--out", str(tmp_path / "demo"), "--train-samples", "120",
               "--eval-samples", "60", "--epochs", "1"], cwd=tmp_path).stdout
    assert "difference" in out and "Three explained predictions" in out
    assert (tmp_path / "demo" / "knowledge" / "knowledge_graph.kg").is_file()


@pytest.mark.slow
def test_readme_python_quick_start_runs_as_written():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Python quick start", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    out = run([sys.executable, "-c", block]).stdout
    assert "Atrial fibrillation" in out or "atrial fibrillation" in out.lower()
    assert " → " in out  # the explained entity's path to the root
