"""Tests written against the surviving mutants of make mutate (docs/mutation-survivors.md)."""
