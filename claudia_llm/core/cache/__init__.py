"""Cache: answer store, exact and semantic tiers, embedders, vector index, admission rules.

The store is Redis or in-process; the embedders and the vector index serve the semantic tier.

May import: the shared core modules, ``safety`` and ``understanding``. Exports:
``store.FailoverStore``, ``exact.ExactCache``, ``semantic.SemanticCache``, ``embedder``.
"""
