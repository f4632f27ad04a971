"""Randomness in one place.

Every stochastic function in rlkit takes ``seed`` (an int, ``None``) or a
:class:`numpy.random.Generator`; :func:`as_generator` turns either into a Generator.
Torch is seeded through :func:`seed_everything` only.
"""

from __future__ import annotations

import random

import numpy as np

SeedLike = int | np.random.Generator | None


def as_generator(seed: SeedLike = None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``seed``.

    :param seed: an int (a fresh PCG64 stream), an existing Generator (returned as is) or ``None``
        (fresh entropy).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        from rlkit.errors import RlkitError

        raise RlkitError(f"seed must be an int or a numpy Generator, got {seed!r}")
    return np.random.default_rng(seed)


def seed_everything(seed: int, *, deterministic_torch: bool = False) -> None:
    """Seed Python's ``random``, NumPy's legacy global state and torch (CPU and CUDA).

    :param seed: the seed.
    :param deterministic_torch: also ask torch for deterministic kernels (slower on GPU).
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    import torch

    torch.manual_seed(seed)
    if deterministic_torch:
        torch.use_deterministic_algorithms(True, warn_only=True)
