"""The evaluation with an oracle LLM: does the path after the model keep its actions right?

Every row the fast tiers leave to the LLM is answered by the Ollama-protocol test server
with the row's own expected actions (its first alternative; ``none`` is a chat answer with
no action), streamed token by token. Any wrong action left is then the pipeline's:
streaming, early action publishing, the safety policy, caching. ``claudia-llm eval`` runs
the rows against isolated nodes, once with ``llm.stream_actions`` false and once true,
side by side (issue 10's Done-when: zero wrong actions on the dev evaluation with the
oracle answers). The rows go into the test server's script only, never into the product.

Usage::

    .venv/bin/python bench/oracle_eval.py [../shared/eval/commands_dev.tsv]
        [--prompt-tps 4000] [--eval-tps 250]

Rates default to 10x the Orin's (400 / 25 tok/s) so the run takes about a minute per
mode; pass ``--prompt-tps 400 --eval-tps 25`` for Orin-like timing.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from claudia_llm.core.evaluation import Case, read_cases  # noqa: E402
from claudia_llm.testing.redis_server import start_redis  # noqa: E402
from claudia_llm.testing.ros_domain import use_private_domain  # noqa: E402

DEFAULT_TSV = ROOT.parent / 'shared' / 'eval' / 'commands_dev.tsv'
# Velocity commands need a velocity, or the policy drops them (zero_velocity).
ORACLE_PARAMETERS = {'Move': {'x': 0.3}, 'Euler': {'y': 0.2}}


def oracle_script(cases: List[Case]) -> Dict[str, Any]:
    """Test-server rules answering each case's utterance with its expected actions."""
    rules = []
    for case in cases:
        names = list(case.alternatives()[0])
        actions = [dict({'name': n}, **({'parameter': ORACLE_PARAMETERS[n]}
                                         if n in ORACLE_PARAMETERS else {})) for n in names]
        rules.append({'match': case.utterance, 'content': {
            'actions': actions, 'reply': 'OK.' if actions else 'I see.',
            'kind': 'command' if actions else 'chat'}})
    return {'rules': rules}


def run_eval(tsv: str, url: str, redis_url: str, stream: bool, out: str) -> Dict[str, Any]:
    """``claudia-llm eval`` of ``tsv`` against isolated nodes; returns its ``--json``."""
    command = [sys.executable, '-m', 'claudia_llm.cli', 'eval', tsv, '--json', out,
               '-p', 'ollama.host:=' + url, '-p', 'redis.url:=' + redis_url,
               '-p', 'llm.stream_actions:=%s' % ('true' if stream else 'false'),
               '-p', 'ollama.warmup:=false']
    subprocess.run(command, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False, timeout=1800, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    with open(out, encoding='utf-8') as stream_file:
        return json.load(stream_file)


def summary_row(mode: str, data: Dict[str, Any]) -> str:
    rows = data['rows']
    llm = [r for r in rows if r['source'] == 'llm']
    return '| %s | %d | %d | %d | %d | %d | %d |' % (
        mode, len(rows), sum(r['ok'] for r in rows), sum(r['wrong_action'] for r in rows),
        len(llm), sum(r['unexplained_change'] for r in rows),
        sum(1 for r in rows if r['source'] == 'fallback'))


def redis_db(url: str, db: int) -> str:
    """``url`` with database ``db`` (redis://host:port/N)."""
    base = url.rsplit('/', 1)[0] if url.count('/') > 2 else url
    return '%s/%d' % (base, db)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('tsv', nargs='?', default=str(DEFAULT_TSV))
    parser.add_argument('--prompt-tps', type=float, default=4000.0)
    parser.add_argument('--eval-tps', type=float, default=250.0)
    args = parser.parse_args()
    use_private_domain()
    cases = read_cases(args.tsv)
    workdir = tempfile.mkdtemp(prefix='claudia-oracle-')
    redis = start_redis(workdir)
    script = os.path.join(workdir, 'oracle.json')
    with open(script, 'w', encoding='utf-8') as stream:
        json.dump(oracle_script(cases), stream, ensure_ascii=False)
    server = subprocess.Popen(
        [sys.executable, '-m', 'claudia_llm.testing.ollama_server', '--port', '0',
         '--script', script, '--timing', 'rates', '--prompt-tps', str(args.prompt_tps),
         '--eval-tps', str(args.eval_tps)], stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        url = server.stdout.readline().split()[1]
        print('%d rows of %s; oracle answers from the test server at %s (%.0f / %.0f tok/s)'
              % (len(cases), args.tsv, url, args.prompt_tps, args.eval_tps))
        print('| llm.stream_actions | rows | right | wrong actions | answered by the LLM '
              '| actions changed without a rule | fallbacks |')
        print('|---|---|---|---|---|---|---|')
        wrong = 0
        for stream in (False, True):
            # a database per mode: the second run must not find the first one's answers
            data = run_eval(args.tsv, url, redis_db(redis.url, 1 + stream), stream,
                            os.path.join(workdir, 'eval-%s.json' % stream))
            print(summary_row(str(stream).lower(), data), flush=True)
            wrong += sum(r['wrong_action'] for r in data['rows'])
            for row in data['rows']:
                if not row['ok'] or row['unexplained_change']:
                    print('   not right: %s %r -> %s %s' % (row['source'], row['utterance'],
                                                          row['intent'], row['error'] or ''))
        return 1 if wrong else 0
    finally:
        server.terminate()
        server.wait(10)
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
