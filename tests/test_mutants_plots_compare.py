"""Tests against the surviving mutants of issue 15's fourth measurement (docs/mutation.md)."""
