"""Budgets checked before allocating: refuse clearly instead of running out of memory.

A model, a dense conversion, a dataset or a results table whose estimated size exceeds the memory
limit raises :class:`~rlkit.errors.RlkitError` before anything is allocated. The limit is 75% of the
machine's physical memory, or the value of the environment variable ``RLKIT_MAX_MEMORY`` (bytes, or
a number with a unit: ``512M``, ``8G``, ``1.5GiB``), which a user can raise (or lower) at will::

    RLKIT_MAX_MEMORY=64G rlkit solve-mdp forest --env-kwargs S=100000

    >>> from rlkit._budget import format_bytes, parse_bytes
    >>> parse_bytes("1.5G"), parse_bytes("512MiB"), format_bytes(3 * 2**30)
    (1500000000, 536870912, '3.2 GB')
"""

from __future__ import annotations

import math
import os
import re

from rlkit.errors import RlkitError

#: The environment variable that sets the memory limit.
MEMORY_ENV = "RLKIT_MAX_MEMORY"
#: Share of the physical memory used when ``RLKIT_MAX_MEMORY`` is not set.
DEFAULT_SHARE = 0.75

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """``"8G"`` -> 8000000000; ``"512MiB"`` -> 536870912; a bare number is bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([a-z]*)\s*", str(text).lower())
    if m is None or m.group(2) not in _UNITS or len(text) > 40:
        raise RlkitError(f"{MEMORY_ENV}={text!r} is not a size; give bytes or a number with a unit "
                         "(512M, 8G, 1.5GiB)")
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if not math.isfinite(value) or value <= 0:
        raise RlkitError(f"{MEMORY_ENV}={text!r} must be a positive size (512M, 8G)")
    return int(value)


def format_bytes(n: float) -> str:
    """A size for people: ``'3.2 GB'``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def memory_limit() -> int:
    """The memory limit in bytes: ``RLKIT_MAX_MEMORY`` or 75% of physical memory (16 GB if unknown)."""
    text = os.environ.get(MEMORY_ENV, "").strip()
    if text:
        return parse_bytes(text)
    total = physical_memory()
    return int(DEFAULT_SHARE * total) if total else 16 * 10**9


def check_memory(nbytes: float, what: str, *, where: str | None = None) -> None:
    """Refuse (:class:`RlkitError`) when ``what`` would need more than :func:`memory_limit` bytes.

    :param nbytes: the estimate (may be a float, even inf, for sizes computed from user numbers).
    :param what: what would be allocated, e.g. ``"forest with S=10**12 (dense P)"``.
    :param where: the file or option the size came from.
    """
    limit = memory_limit()
    if not nbytes <= limit:  # also NaN
        raise RlkitError(f"{what} would need about {format_bytes(nbytes)} of memory, more than the limit of "
                         f"{format_bytes(limit)}; use smaller sizes, or raise the limit with "
                         f"{MEMORY_ENV}=SIZE (e.g. {MEMORY_ENV}=64G) if the machine has it", where=where)


def check_count(n: int, limit: int, what: str, *, where: str | None = None) -> None:
    """Refuse an absurd count (``--runs 10**9``) before any work: ``n`` must be in [1, ``limit``]."""
    if not 1 <= n <= limit:
        raise RlkitError(f"{what} must be between 1 and {limit:,}, got {n:,}", where=where)
