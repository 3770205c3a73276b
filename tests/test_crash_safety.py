"""A process killed while kgenhance writes leaves the previous file whole (temp file + rename)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kgenhance.graph import Entity, KnowledgeGraph

WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from kgenhance.graph import Entity, KnowledgeGraph, Synonym
    from kgenhance._io import write_json_atomic

    target, kind = sys.argv[1], sys.argv[2]
    n = 150_000
    ents = [Entity(f"http://big.org/e{i:07d}", f"entity number {i}", [Synonym(f"synonym {i}")]) for i in range(n)]
    edges = np.stack([np.arange(n - 1), np.zeros(n - 1, dtype=np.int64), np.arange(1, n)], axis=1)
    big = KnowledgeGraph(ents, ["http://big.org/rel"], edges)
    print("ready", flush=True)
    while True:  # keep rewriting until killed
        if kind == "graph":
            big.save(target)
        else:
            write_json_atomic(target, {"rows": [[i, str(i) * 20] for i in range(n)]})
    """
)


def _kill_mid_write(target: Path, kind: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), kind], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        assert proc.stdout.readline().strip() == "ready"
        deadline = time.time() + 60
        # wait until a temporary file beside the target exists: a write is in progress
        while not any(p.name.startswith(f".{target.name}.") for p in target.parent.iterdir()):
            assert time.time() < deadline, "the writer never started writing"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("round_", range(2))
def test_killed_graph_save_keeps_previous_graph(tmp_path, round_):
    target = tmp_path / "graph.kg"
    old = KnowledgeGraph([Entity("http://e.org/a", "alpha"), Entity("http://e.org/b", "beta")], [], [])
    old.save(target)
    _kill_mid_write(target, "graph")
    survived = KnowledgeGraph.load(target)  # whole, and either the old or a complete new one
    assert survived.content_hash in (old.content_hash,) or len(survived) == 150_000


def test_killed_json_write_keeps_previous_file(tmp_path):
    import json

    target = tmp_path / "metrics.json"
    target.write_text(json.dumps({"old": True}))
    _kill_mid_write(target, "json")
    data = json.loads(target.read_text())
    assert data == {"old": True} or len(data["rows"]) == 150_000


def test_atomic_writes_get_normal_permissions(tmp_path):
    import torch
    from safetensors.torch import save_file

    from kgenhance._io import atomic_directory, write_json_atomic

    mask = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": 1})
        with atomic_directory(tmp_path / "model") as d:
            (d / "f.txt").write_text("x")
            save_file({"w": torch.zeros(2)}, str(d / "w.safetensors"))  # written private through a temp file
    finally:
        os.umask(mask)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "model" / "f.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model" / "w.safetensors").stat().st_mode & 0o777 == 0o644


def test_sigterm_unwinds_and_leaves_no_temporary_files(tmp_path, tiny_ttl):
    src = tmp_path / "many.txt"
    src.write_text("seizures and atrial fibrillation\n" * 400_000)
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    kgenhance = Path(sys.executable).with_name("kgenhance")
    cmd = [str(kgenhance)] if kgenhance.exists() else [sys.executable, "-m", "kgenhance.cli"]
    proc = subprocess.Popen([*cmd, "-q", "link", "-o", str(tiny_ttl), "--input", str(src), "--output", str(out)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not any(p.name.startswith(".out.jsonl.") for p in tmp_path.iterdir()):
        assert time.time() < deadline and proc.poll() is None, "the run never started writing"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl")] == []
