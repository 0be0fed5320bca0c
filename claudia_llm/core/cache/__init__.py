"""Cache: the answer store (Redis or in-process), the exact and semantic tiers, the
embedders and vector index behind the semantic tier, and the admission rules.

May import: the shared core modules, ``safety`` and ``understanding``. Exports:
``store.FailoverStore``, ``exact.ExactCache``, ``semantic.SemanticCache``, ``embedder``.
"""
