"""Synthetic datasets, generated from a seed: nothing is ever downloaded.

Each topic has its own module (import it directly, e.g. `from mmprep.data.xor import make_xor_task`).
"""
