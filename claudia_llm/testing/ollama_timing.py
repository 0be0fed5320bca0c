"""How long the Ollama-protocol test server takes for an answer.

Also which prompt tokens it evaluates.

Two timings:

- ``service``: a fixed service time per request (the server's, the script's or a rule's
  ``delay_s``), split into prompt eval and eval in proportion to the token costs.
- ``rates``: what a GPU does: prefill of the *new* prompt tokens at ``prompt_tps``, then one
  chunk per Qwen2.5 token at ``eval_tps`` (Orin-like: 400 and 25 tokens/s). New tokens are
  the ones after the longest prefix shared with a prompt still cached in one of the
  model's slots, as llama.cpp's per-slot KV cache reuse does in Ollama; the answer's
  ``prompt_eval_count`` is then that number, as Ollama reports it.
"""
from typing import Dict, List, Sequence

TIMINGS = ('service', 'rates')


class PrefixCache:
    """The prompt token ids each slot of each model last evaluated (at most ``slots``).

    Args:
        slots: cached prompts kept per model (``OLLAMA_NUM_PARALLEL``), >= 1.
    """

    def __init__(self, slots: int):
        self.slots = max(1, int(slots))
        self._cached: Dict[str, List[List[int]]] = {}

    def evaluate(self, model: str, ids: Sequence[int]) -> int:
        """Return how many of ``ids`` must be evaluated (>= 1) and cache ``ids``.

        The slot whose prompt shares the longest prefix is reused (Ollama evaluates at
        least the last token even for an identical prompt).
        """
        cached = self._cached.setdefault(model, [])
        best, best_index = 0, None
        for index, old in enumerate(cached):
            shared = _shared_prefix(old, ids)
            if shared > best:
                best, best_index = shared, index
        if best_index is not None:
            cached.pop(best_index)
        elif len(cached) >= self.slots:
            cached.pop(0)
        cached.append(list(ids))
        return max(1, len(ids) - best) if ids else 0

    def clear(self, model: str = '') -> None:
        """Forget the cache of ``model`` (a load or an unload), or of all models."""
        if model:
            self._cached.pop(model, None)
        else:
            self._cached.clear()


def service_split(service_s: float, prompt_tokens: int, completion_tokens: int,
                  prompt_tps: float, eval_tps: float) -> float:
    """Prompt-eval part of ``service_s`` (s), in proportion to the token costs."""
    p_cost, c_cost = prompt_tokens / prompt_tps, completion_tokens / eval_tps
    return service_s * p_cost / (p_cost + c_cost) if p_cost + c_cost else 0.0


def _shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
