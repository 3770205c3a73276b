#!/usr/bin/env bash
# Create .venv and install kgenhance into it (editable). `--dev` adds the test extras.
# Without an NVIDIA GPU the CPU build of torch is installed first, so that nothing
# later pulls a multi-GB CUDA build; with one, pip's normal (CUDA) build is used.
set -euo pipefail
cd "$(dirname "$0")"

extras=""
if [[ "${1:-}" == "--dev" ]]; then extras="[dev]"; fi
python="${PYTHON:-python3}"

if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)

if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        echo "setup: NVIDIA GPU found, installing the CUDA build of torch" >&2
        "${pip[@]}" "${KGENHANCE_TORCH:-torch}"
    else
        echo "setup: no GPU found, installing the CPU build of torch" >&2
        "${pip[@]}" "${KGENHANCE_TORCH:-torch==2.13.0}"
    fi
fi
"${pip[@]}" -e ".${extras}"
echo "setup: done; the kgenhance command is .venv/bin/kgenhance" >&2
