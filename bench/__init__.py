"""Benchmarks for httpie_stytch_connected: ``python -m bench`` runs every row.

Each row compares our code with a baseline measured in the same run, interleaved, against
loopback servers the benchmark starts itself, with all state in a temporary directory.
"""
