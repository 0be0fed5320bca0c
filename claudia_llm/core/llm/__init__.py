"""LLM: the prompt and JSON schema, the model backends and the request scheduler.

May import: the shared core modules and ``safety`` (the action table for the prompt).
Exports: ``prompt.PromptProfile``, ``ollama.OllamaChat``, ``openai_chat.OpenAIChat`` (an
OpenAI-compatible server), ``scheduler`` (built by ``core.build``).
"""
