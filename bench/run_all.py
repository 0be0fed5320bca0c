"""Run every benchmark in turn and print their tables (``make bench``, ~10 minutes).

Results vary with machine load: run on an otherwise idle machine. Each script can also be
run on its own; see its docstring for options.
"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVAL = HERE.parents[1] / 'shared' / 'eval' / 'commands_dev.tsv'
RUNS = [
    ['emergency_words.py'],
    ['semantic_lookup.py'],
    ['e2e_latency.py', '--repeats', '30'],
    ['scheduler.py'],
    ['llm_stream.py'],
    ['llm_backends.py'],
]


def main() -> int:
    failed = 0
    runs = list(RUNS)
    if EVAL.is_file():
        runs[:0] = [['eval_tiers.py'], ['oracle_eval.py']]
    for run in runs:
        print('\n=== bench/%s ===' % ' '.join(run), flush=True)
        failed += subprocess.call([sys.executable, str(HERE / run[0])] + run[1:]) != 0
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
