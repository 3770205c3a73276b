"""A random stream of the knowledge modules' own, apart from torch's global CPU generator.

The knowledge-aware model and its no-knowledge baseline are compared seed by seed. If the
knowledge modules drew their initial weights and dropout masks from the global generator,
every dropout mask the backbone draws afterwards would differ from the baseline's: the two
runs of a seed would differ by the noise of two seeds on top of the knowledge's effect. With
the knowledge modules drawing from a stream of their own, the backbone's dropout masks and
the data order are the baseline's, and a paired difference measures the knowledge.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor


class PrivateRandomStream:
    """A CPU random stream: code run inside `use()` draws from it instead of the global generator."""

    def __init__(self, seed: int):
        self.state: Tensor = torch.Generator().manual_seed(seed).get_state()

    @contextmanager
    def use(self) -> Iterator[None]:
        """Swap the stream in as torch's global CPU generator for the block, then swap it back out."""
        outer = torch.get_rng_state()
        torch.set_rng_state(self.state)
        try:
            yield
        finally:
            self.state = torch.get_rng_state()
            torch.set_rng_state(outer)


__all__ = ["PrivateRandomStream"]
