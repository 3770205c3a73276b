"""A random stream of the knowledge modules' own, apart from torch's global generators.

The knowledge-aware model and its no-knowledge baseline are compared seed by seed. If the
knowledge modules drew their initial weights and dropout masks from the global generator,
every dropout mask the backbone draws afterwards would differ from the baseline's: the two
runs of a seed would differ by the noise of two seeds on top of the knowledge's effect. With
the knowledge modules drawing from a stream of their own, the backbone's dropout masks and
the data order are the baseline's, and a paired difference measures the knowledge.

The stream has one state per device it is used on: the CPU's (started from the seed at
construction) and, on first use there, each CUDA device's (started from the same seed).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor

CPU = "cpu"


class PrivateRandomStream:
    """Code run inside `use(device)` draws from this stream instead of that device's global generator."""

    def __init__(self, seed: int):
        self.seed = seed
        self.states: dict[str, Tensor] = {CPU: torch.Generator().manual_seed(seed).get_state()}

    @property
    def state(self) -> Tensor:
        """The CPU state (the one every run has)."""
        return self.states[CPU]

    @state.setter
    def state(self, value: Tensor) -> None:
        self.states[CPU] = value

    @staticmethod
    def supports(device: torch.device | str) -> bool:
        """Whether `use` swaps a generator on `device` (the CPU and CUDA devices; others draw globally)."""
        return torch.device(device).type in (CPU, "cuda")

    @contextmanager
    def use(self, device: torch.device | str = CPU) -> Iterator[None]:
        """Swap the stream in as `device`'s global generator for the block, then swap it back out."""
        device = torch.device(device)
        if device.type == CPU:
            key, get, put = CPU, torch.get_rng_state, torch.set_rng_state
        elif device.type == "cuda":
            index = device.index if device.index is not None else torch.cuda.current_device()
            key = f"cuda:{index}"
            get, put = (lambda: torch.cuda.get_rng_state(index)), (lambda s: torch.cuda.set_rng_state(s, index))
            if key not in self.states:
                self.states[key] = torch.Generator(device=key).manual_seed(self.seed).get_state()
        else:
            yield
            return
        outer = get()
        put(self.states[key])
        try:
            yield
        finally:
            self.states[key] = get()
            put(outer)


__all__ = ["PrivateRandomStream"]
