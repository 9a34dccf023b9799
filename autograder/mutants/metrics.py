"""Mutants and valid variants of solutions/metrics.py (see autograder/mutants/__init__.py)."""

from autograder.mutants import mutant, variant

MUTANTS = [
    mutant("accuracy-off-by-one-divisor", "accuracy",
           ("return float(np.mean(a == b))", "return float(np.sum(a == b) / (a.size + 1))"),
           feedback=r"accuracy differs from sklearn", why="divides by N+1"),
]

VARIANTS = [
    variant("accuracy-loop", "accuracy",
            ("return float(np.mean(a == b))", "return sum(int(x == y) for x, y in zip(a, b)) / len(a)"),
            why="a Python loop"),
]
