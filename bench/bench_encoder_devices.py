"""The default entity encoder (CompGCN + RotatE) on each device: the same training on a GPU and on the CPU.

    python bench/bench_encoder_devices.py [graphs/fibo graphs/hpo/hp.obo] [--devices cuda cpu]

Trains `train_entity_encoder` with its defaults (seed 0) on every graph and device, in one
run, and prints epochs, the median epoch time, the whole run's time, validation MRR and,
on CUDA, peak GPU memory; then each graph's CPU/GPU ratio of median epoch times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import torch

    from kgenhance.encode import EncoderConfig, train_entity_encoder
    from kgenhance.graph import load_graph

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graphs", nargs="*", type=Path,
                    default=[ROOT / "graphs" / "fibo", ROOT / "graphs" / "hpo" / "hp.obo"])
    ap.add_argument("--devices", nargs="+", default=["cuda", "cpu"])
    args = ap.parse_args()
    for path in args.graphs:
        graph = load_graph(path)
        epoch_times = {}
        for dev in args.devices:
            if dev == "cuda":
                torch.cuda.reset_peak_memory_stats()
            m = train_entity_encoder(graph, EncoderConfig(seed=0, device=dev), progress=False).metrics
            epoch_times[dev] = statistics.median(h["train_seconds"] for h in m["history"])
            peak = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if dev == "cuda" else ""
            where = torch.cuda.get_device_name() if dev == "cuda" else f"{torch.get_num_threads()} threads"
            print(f"{path.name}: {dev} ({where}): {m['entities']:,} entities, {m['train_edges']:,} training edges, "
                  f"{m['epochs_run']} epochs, median epoch {epoch_times[dev]:.3f} s, whole run {m['seconds']} s, "
                  f"MRR {m['mrr']:.4f}{peak}", flush=True)
        if "cuda" in epoch_times and "cpu" in epoch_times:
            print(f"{path.name}: CPU / GPU epoch time {epoch_times['cpu'] / epoch_times['cuda']:.1f}×")


if __name__ == "__main__":
    main()
