"""The course autograder: grades a submission with pytest checks in a sandboxed worker.

Kept free of imports: the worker imports this package with nothing but the standard library
and NumPy available.
"""
