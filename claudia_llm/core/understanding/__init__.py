"""Understanding: from raw input to meaning (inputs, normalisation, Japanese analysis,
guard features, emergency words, the command lexicon and its matcher).

May import: the shared core modules and ``safety`` (action names). Exports:
``inputs.parse_utterance``, ``normalize``, ``guards``, ``emergency``, ``lexicon.Lexicon``.
"""
