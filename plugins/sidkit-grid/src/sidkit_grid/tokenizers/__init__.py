"""GRID tokenizers: ``rkmeans``, ``rvq``, ``rqvae`` (import the submodules; this package
imports nothing heavy itself)."""
