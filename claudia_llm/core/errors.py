"""Typed errors of claudia_llm and the error codes they carry into response records.

Every failure that can reach a response record is one of these classes. Clients
(Ollama, Redis) translate their transport errors into them exactly once, with
``raise ... from exc`` so the cause is kept. The node turns them into a log line,
a fallback reply and ``record.error = {"code": err.code, "message": str(err)}``.
"""


class ClaudiaError(Exception):
    """Base class; ``code`` is the stable machine-readable error code."""

    code = 'internal_error'


class InputError(ClaudiaError):
    """The utterance message is unusable (empty, too long, bad UTF-8, bad JSON)."""

    code = 'invalid_input'

    def __init__(self, message, code=None, request_id=''):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.request_id = request_id  # the caller's id when the message carried one


class LLMError(ClaudiaError):
    """Base class for failures of an LLM request."""

    code = 'llm_error'


class LLMUnavailable(LLMError):
    """Ollama cannot be reached (connection refused, DNS, reset)."""

    code = 'llm_unavailable'


class LLMTimeout(LLMError):
    """The LLM request did not finish within its per-request timeout."""

    code = 'llm_timeout'


class LLMHTTPError(LLMError):
    """Ollama answered with an HTTP error status (for example 500 or 503)."""

    code = 'llm_http_error'

    def __init__(self, message, status_code=-1):
        super().__init__(message)
        self.status_code = status_code


class LLMMalformedOutput(LLMError):
    """The completion is not JSON of the schema the request asked for."""

    code = 'llm_malformed_output'


class RequestExpired(LLMError):
    """The request waited past its deadline and was not sent to the robot."""

    code = 'expired'


class SchedulerBusy(LLMError):
    """The LLM request queue is full (back-pressure); answered at once."""

    code = 'busy'


class RequestCancelled(LLMError):
    """The request was cancelled, for example by an emergency stop."""

    code = 'cancelled'


class ShuttingDown(LLMError):
    """The node stopped (SIGINT/SIGTERM) before this request was answered.

    Only when no other node can answer it instead: Redis is down, or the request never
    reached the Redis queue.
    """

    code = 'shutting_down'


class RequestHandedOver(ClaudiaError):
    """The node stopped; the request stays in the Redis queue and the next node answers it.

    Never reaches a record: the node that stops publishes nothing for such a request.
    """

    code = 'handed_over'


class StoreUnavailable(ClaudiaError):
    """Redis cannot be reached; callers fall back to the in-memory store."""

    code = 'store_unavailable'


class ConfigError(ClaudiaError):
    """A configuration file or parameter value is invalid."""

    code = 'config_error'
