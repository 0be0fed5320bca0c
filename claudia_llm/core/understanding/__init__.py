"""Understanding: from raw input to meaning.

Inputs, normalisation, Japanese analysis, sentence type, guard features, emergency words, the
command lexicon and its matcher.

May import: the shared core modules and ``safety`` (action names). Exports:
``inputs.parse_utterance``, ``normalize``, ``sentence_type``, ``guards``, ``emergency``,
``lexicon.Lexicon``.
"""
