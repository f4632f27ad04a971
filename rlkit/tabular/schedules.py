"""Step-size (α) and exploration (ε) schedules, as functions of the episode index.

A schedule is called with an array of episode indices (one per run, 0-based) and returns the
value for each, so runs at different episodes get their own α and ε in one call.

>>> s = parse_schedule("linear:1.0,0.1,10", "epsilon")
>>> s(np.array([0, 5, 10, 50])).tolist()
[1.0, 0.55, 0.1, 0.1]
>>> parse_schedule(0.5, "alpha")(np.array([3])).tolist()
[0.5]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rlkit.errors import RlkitError


class Schedule:
    """Base class: ``schedule(episodes) -> values`` (arrays of the same shape)."""

    start: float

    def __call__(self, episode: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def values_range(self) -> tuple[float, float]:
        """Smallest and largest value the schedule takes."""
        raise NotImplementedError  # pragma: no cover - interface


@dataclass(frozen=True)
class Constant(Schedule):
    """The same value at every episode."""

    start: float

    def __call__(self, episode):
        return np.full(np.shape(episode), float(self.start))

    def values_range(self):
        return (self.start, self.start)

    def __str__(self) -> str:
        return f"{self.start:g}"


@dataclass(frozen=True)
class Linear(Schedule):
    """From ``start`` at episode 0 linearly to ``end`` at episode ``episodes``, then ``end``."""

    start: float
    end: float
    episodes: int

    def __call__(self, episode):
        frac = np.minimum(np.asarray(episode, dtype=float) / max(self.episodes, 1), 1.0)
        return self.start * (1.0 - frac) + self.end * frac

    def values_range(self):
        return (min(self.start, self.end), max(self.start, self.end))

    def __str__(self) -> str:
        return f"linear:{self.start:g},{self.end:g},{self.episodes}"


@dataclass(frozen=True)
class Exponential(Schedule):
    """``max(minimum, start * decay ** episode)``."""

    start: float
    decay: float
    minimum: float = 0.0

    def __call__(self, episode):
        return np.maximum(self.minimum, self.start * self.decay ** np.asarray(episode, dtype=float))

    def values_range(self):
        return (min(self.minimum, self.start), max(self.minimum, self.start))

    def __str__(self) -> str:
        return f"exp:{self.start:g},{self.decay:g},{self.minimum:g}"


def parse_schedule(value: float | str | Schedule, name: str, *, low: float = 0.0, high: float = 1.0,
                   low_open: bool = False) -> Schedule:
    """Build and validate a schedule.

    :param value: a number (constant), a :class:`Schedule`, or a string: ``"0.1"``,
        ``"linear:START,END,EPISODES"`` or ``"exp:START,DECAY[,MIN]"``.
    :param name: the parameter's name for error messages (``"alpha"``, ``"epsilon"``).
    :param low: smallest allowed value.
    :param high: largest allowed value.
    :param low_open: ``low`` itself not allowed (α must be > 0).
    """
    sched: Schedule
    if isinstance(value, Schedule):
        sched = value
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        sched = Constant(float(value))
    elif isinstance(value, str):
        text = value.strip().lower()
        kind, _, args = text.partition(":")
        try:
            if not args:
                sched = Constant(float(kind))
            else:
                nums = [float(x) for x in args.replace(";", ",").split(",") if x.strip()]
                if kind in ("linear", "lin") and len(nums) == 3:
                    sched = Linear(nums[0], nums[1], int(nums[2]))
                elif kind in ("exp", "exponential") and len(nums) in (2, 3):
                    sched = Exponential(*nums)
                else:
                    raise ValueError
        except ValueError:
            raise RlkitError(f"cannot read schedule {value!r}; use a number, 'linear:START,END,EPISODES' "
                             "or 'exp:START,DECAY[,MIN]'", where=name) from None
    else:
        raise RlkitError(f"expected a number or a schedule, got {value!r}", where=name)
    lo, hi = sched.values_range()
    bad_low = lo <= low if low_open else lo < low
    if bad_low or hi > high or not (np.isfinite(lo) and np.isfinite(hi)):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise RlkitError(f"{name} must be in {interval}, got {sched}", where=name)
    if isinstance(sched, Exponential) and not 0.0 < sched.decay <= 1.0:
        raise RlkitError(f"the decay of an exponential schedule must be in (0, 1], got {sched.decay:g}",
                         where=name)
    return sched


def parse_alpha(value: float | str | Schedule) -> Schedule:
    """A step-size schedule with values in (0, 1]."""
    return parse_schedule(value, "alpha", low=0.0, high=1.0, low_open=True)


def parse_epsilon(value: float | str | Schedule) -> Schedule:
    """An exploration schedule with values in [0, 1]."""
    return parse_schedule(value, "epsilon", low=0.0, high=1.0)
