"""Randomness in one place.

Every stochastic function in rlkit takes ``seed`` (an int, ``None``) or a
:class:`numpy.random.Generator`; :func:`as_generator` turns either into a Generator.
Torch is seeded through :func:`seed_everything` only.

Any integer is a seed (:func:`normalize_seed`): one in ``[0, 2**64)`` is used as it is; any other
(negative, or ``2**64`` and above) is reduced into that range by numpy's
:class:`~numpy.random.SeedSequence`, which takes integers of any size into its entropy pool. The
sign goes in as a second word, so ``-5`` and ``5`` differ; the same seed always gives the same
numbers, and distinct seeds collide only with probability about ``2**-64``. All of rlkit's
generators (numpy, torch, Python's ``random``, Gymnasium resets) then receive a seed they accept.
"""

from __future__ import annotations

import random

import numpy as np

SeedLike = int | np.random.Generator | None

#: Seeds are reduced into ``[0, SEED_RANGE)``: the range torch, numpy and Gymnasium all accept.
SEED_RANGE = 2**64


def normalize_seed(seed: int) -> int:
    """Any integer -> a seed in ``[0, 2**64)`` (the rule is in the module docstring).

    >>> normalize_seed(7), normalize_seed(2**64 - 1)
    (7, 18446744073709551615)
    >>> normalize_seed(-1) == normalize_seed(-1) != normalize_seed(1)
    True
    >>> 0 <= normalize_seed(-10**400) < 2**64
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        from rlkit.errors import RlkitError

        raise RlkitError(f"seed must be an integer, got {str(seed)[:60]!r}", where="seed")
    seed = int(seed)
    if 0 <= seed < SEED_RANGE:
        return seed
    words = np.random.SeedSequence([abs(seed), 1 if seed < 0 else 2]).generate_state(2, np.uint32)
    return int(words[0]) | int(words[1]) << 32


def as_generator(seed: SeedLike = None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``seed``.

    :param seed: an int (a fresh PCG64 stream), an existing Generator (returned as is) or ``None``
        (fresh entropy).
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        from rlkit.errors import RlkitError

        raise RlkitError(f"seed must be an int or a numpy Generator, got {str(seed)[:60]!r}")
    return np.random.default_rng(None if seed is None else normalize_seed(seed))


def seed_everything(seed: int, *, deterministic_torch: bool = False) -> None:
    """Seed Python's ``random``, NumPy's legacy global state and torch (CPU and CUDA).

    :param seed: the seed (any integer, see :func:`normalize_seed`).
    :param deterministic_torch: also ask torch for deterministic kernels (slower on GPU).
    """
    seed = normalize_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    import torch

    torch.manual_seed(seed)
    if deterministic_torch:
        torch.use_deterministic_algorithms(True, warn_only=True)
