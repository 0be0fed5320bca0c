"""The two LLM backends side by side: ``OllamaChat`` and ``OpenAIChat`` on one test server.

The Ollama-protocol test server (which also speaks ``/v1/chat/completions``) streams at
Orin-like rates (prefill 400 tokens/s of the new prompt tokens, decode 25 tokens/s, one
chunk per Qwen2.5 token), so both clients get the same tokens at the same times; what
differs is the protocol (NDJSON vs SSE) and the client library. For each backend, after
one warm-up (the system prompt is then a cached prefix, as on a warm server), novel
commands are asked one after another and timed from the call:

- ``first_chunk``: the first content piece (``LLMResult.ttft_ms``);
- ``actions``: the action list closed (``core.llm.stream_parse.AnswerStream``), what a
  streamed answer publishes on ``/claudia/action``;
- ``total``: the parsed answer back;
- ``overhead``: ``total`` minus the server's own time for the answer (its log), i.e. the
  HTTP, framing and parsing cost of client and protocol.

    .venv/bin/python bench/llm_backends.py [--repeats 3] [--prompt-tps 400] [--eval-tps 25]

Prints one table, p50 and p95 in ms.
"""
import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from claudia_llm.core.llm.ollama import OllamaChat  # noqa: E402
from claudia_llm.core.llm.openai_chat import OpenAIChat  # noqa: E402
from claudia_llm.core.llm.prompt import PromptProfile  # noqa: E402
from claudia_llm.core.llm.stream_parse import AnswerStream  # noqa: E402
from claudia_llm.core.safety.actions import ActionRegistry  # noqa: E402
from claudia_llm.testing.ollama_server import OllamaTestServer  # noqa: E402

MODEL = 'qwen2.5:7b'
COMMANDS = [
    ('do a little victory shimmy', ['WiggleHips'], 'Woo-hoo! Look at me shimmy!'),
    ('greet our guests and then stretch', ['Hello', 'Stretch'],
     'Hello everyone! Let me stretch a bit.'),
    ('show me your best moves', ['Dance1'], 'Here is my favourite dance!'),
    ('make a heart for grandma', ['Heart'], 'A big heart for grandma!'),
    ('いいところを見せてよ', ['Hello', 'Dance2'], 'はい、見ていてくださいね!'),
    ('给大家露一手', ['Dance1'], '好的,看我的!'),
]
METRICS = ('first_chunk', 'actions', 'total', 'overhead')


def script() -> List[Dict]:
    return [{'match': text, 'content': {'actions': [{'name': n} for n in names],
                                        'reply': reply, 'kind': 'command'}}
            for text, names, reply in COMMANDS]


def make(backend: str, url: str, profile: PromptProfile):
    if backend == 'openai':
        return OpenAIChat(url + '/v1', MODEL, profile, timeout_s=60.0)
    return OllamaChat(url, MODEL, profile, timeout_s=60.0)


async def ask(llm, profile: PromptProfile, server: OllamaTestServer, text: str) -> Dict:
    parser, closed = AnswerStream(profile), []
    started = time.monotonic()

    def on_chunk(piece: str) -> None:
        if parser.feed(piece).actions is not None:
            closed.append(time.monotonic())

    result = await llm.chat(text, on_chunk=on_chunk)
    entry = server.requests()[-1]
    for _ in range(100):  # the server marks the end just after its last write
        if entry['end_s'] is not None:
            break
        await asyncio.sleep(0.01)
        entry = server.requests()[-1]
    served_ms = (entry['end_s'] - entry['arrival_s']) * 1000.0
    return {'first_chunk': result.ttft_ms,
            'actions': (closed[0] - started) * 1000.0 if closed else float('nan'),
            'total': result.total_ms, 'overhead': result.total_ms - served_ms}


async def run(backend: str, url: str, server: OllamaTestServer, profile: PromptProfile,
              repeats: int) -> Dict[str, List[float]]:
    llm = make(backend, url, profile)
    samples: Dict[str, List[float]] = {m: [] for m in METRICS}
    try:
        await llm.warmup()
        for _ in range(repeats):
            for text, _names, _reply in COMMANDS:
                for name, value in (await ask(llm, profile, server, text)).items():
                    samples[name].append(value)
    finally:
        await llm.aclose()
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3, help='rounds over the commands')
    parser.add_argument('--prompt-tps', type=float, default=400.0)
    parser.add_argument('--eval-tps', type=float, default=25.0)
    args = parser.parse_args()
    profile = PromptProfile(ActionRegistry.load(), max_actions=4)
    server = OllamaTestServer(script=script(), timing='rates', prompt_tps=args.prompt_tps,
                              eval_tps=args.eval_tps)
    url = server.start()
    try:
        rows = {b: asyncio.run(run(b, url, server, profile, args.repeats))
                for b in ('ollama', 'openai')}
    finally:
        server.stop()
    n = len(COMMANDS) * args.repeats
    print('LLM backends on the test server (prefill %.0f tok/s, decode %.0f tok/s), '
          '%d novel commands each, ms' % (args.prompt_tps, args.eval_tps, n))
    print('| backend | ' + ' | '.join('%s p50 | %s p95' % (m, m) for m in METRICS) + ' |')
    print('|---|' + '---:|' * (2 * len(METRICS)))
    for backend, samples in rows.items():
        cells = []
        for metric in METRICS:
            values = np.array(samples[metric], dtype=float)
            cells += ['%.1f' % np.nanpercentile(values, 50), '%.1f' % np.nanpercentile(values, 95)]
        print('| %s | %s |' % (backend, ' | '.join(cells)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
