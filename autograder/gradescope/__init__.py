"""Gradescope: the autograder bundle (setup.sh, run_autograder) and the per-submission runner."""
