"""Tests against the surviving mutants of rlkit/mdp/dp.py's solvers (evaluate, backward induction, PI, VI,
MPI, Gauss-Seidel, LP, average reward): none yet, that part is not measured (docs/mutation.md).
In the mdp/ test selection of pyproject.toml already, so that adding tests here does not reset
mutmut's cached verdicts."""
