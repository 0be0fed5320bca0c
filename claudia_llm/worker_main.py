r"""``claudia-llm worker``: an LLM worker process on the Redis request queue (scale-out).

Run it on this or another machine, pointed at the robot's Redis and any Ollama host;
several workers share the request streams. Settings come from the same ROS parameters
YAML as llm_node (``llm_node.ros__parameters``), overridden by the options::

    claudia-llm worker --redis-url redis://robot:6379/0 --ollama-host http://gpu:11434 \
        --slots 4 --name gpu-box

``--slots`` is the Ollama host's ``OLLAMA_NUM_PARALLEL``: the worker never has more
requests than that in flight. SIGINT or SIGTERM stops it: it stops reading, lets running
requests finish for up to ``--drain-s`` and leaves the rest pending for other workers.
"""
import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from claudia_llm.core import settings as settings_mod
from claudia_llm.core.errors import ConfigError
from claudia_llm.params_file import UsageError, check_params_file

log = logging.getLogger('claudia_llm.worker')

BLOCK_S = 1.0


def make_llm(settings: Dict[str, Any]):
    """The ``OllamaChat`` llm_node would build from the same settings.

    Same prompt version and options, and so the same coalescing keys.
    """
    from claudia_llm.core.llm.ollama import OllamaChat
    from claudia_llm.core.llm.prompt import PromptProfile
    from claudia_llm.core.safety.actions import ActionRegistry
    path = settings['safety.actions_path']
    registry = ActionRegistry.load(Path(path) if path else None)
    profile = PromptProfile(registry, max_actions=settings['safety.max_actions'])
    return OllamaChat(
        settings['ollama.host'], settings['ollama.model'], profile,
        keep_alive=settings['ollama.keep_alive'], timeout_s=settings['ollama.timeout_s'],
        connect_timeout_s=settings['ollama.connect_timeout_s'],
        options={'temperature': settings['ollama.temperature'], 'seed': settings['ollama.seed'],
                 'num_predict': settings['ollama.num_predict'],
                 'num_ctx': settings['ollama.num_ctx']})


async def run_worker(settings: Dict[str, Any], stop: asyncio.Event,
                     name: Optional[str] = None, drain_s: float = 5.0) -> int:
    """Serve the queue until ``stop`` is set; returns the number of requests processed.

    Args:
        settings: llm_node settings (``ollama.*``, ``redis.*``, ``scheduler.claim_idle_s``,
            ``safety.*`` for the prompt).
        stop: set it to stop the worker gracefully.
        name: consumer name, unique among workers; default ``worker@<host>:<pid>``.
        drain_s: how long running requests may finish after ``stop``, s.
    """
    from claudia_llm.core.llm.scheduler.worker import LLMWorker
    from claudia_llm.core.redis_conn import make_redis
    name = name or 'worker@%s:%d' % (socket.gethostname(), os.getpid())
    llm = make_llm(settings)
    kw = dict(socket_timeout_s=settings['redis.socket_timeout_s'],
              connect_timeout_s=settings['redis.connect_timeout_s'])
    redis = make_redis(settings['redis.url'], **kw)
    blocking = make_redis(settings['redis.url'], for_blocking_reads=True, block_s=BLOCK_S, **kw)
    worker = LLMWorker(redis, blocking, llm, name,
                       max_in_flight=settings['ollama.parallel_slots'],
                       claim_idle_s=settings['scheduler.claim_idle_s'],
                       prefix=settings['redis.key_prefix'], block_s=BLOCK_S)
    warmup = asyncio.ensure_future(_warmup(llm)) if settings['ollama.warmup'] else None
    try:
        await worker.start()
        log.info('worker %s: %s (%s, %d slots) on %s', name, settings['ollama.host'],
                 settings['ollama.model'], settings['ollama.parallel_slots'],
                 settings['redis.url'])
        print('claudia-llm worker %s started' % name, flush=True)
        await stop.wait()
        log.info('worker %s stopping', name)
        await worker.stop(drain_s=drain_s)
    finally:
        if warmup is not None:
            warmup.cancel()
        await llm.aclose()
        for client in (redis, blocking):
            await (getattr(client, 'aclose', None) or client.close)()
    log.info('worker %s stopped after %d requests', name, worker.processed)
    return worker.processed


async def _warmup(llm) -> None:
    try:
        await llm.warmup()
    except Exception as exc:  # noqa: BLE001 - requests will report the real error
        log.warning('Ollama warm-up failed (%s: %s)', type(exc).__name__, exc)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='claudia-llm worker', description=__doc__.split(
        '\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', help='ROS parameters YAML (default: the packaged one)')
    parser.add_argument('--redis-url', help='redis.url')
    parser.add_argument('--ollama-host', help='ollama.host')
    parser.add_argument('--model', help='ollama.model')
    parser.add_argument('--slots', type=int, help='ollama.parallel_slots of that host')
    parser.add_argument('--name', help='consumer name (default worker@HOST:PID)')
    parser.add_argument('--claim-idle-s', type=float, help='scheduler.claim_idle_s')
    parser.add_argument('--key-prefix', help='redis.key_prefix')
    parser.add_argument('--no-warmup', action='store_true', help='skip the warm-up request')
    parser.add_argument('--drain-s', type=float, default=5.0,
                        help='on stop, let running requests finish this long (s)')
    parser.add_argument('--log-level', default='INFO')
    return parser


def settings_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    """llm_node settings from ``--config`` (or the packaged YAML) with the options applied.

    Raises:
        ConfigError: a bad YAML or option value.
    """
    values = settings_mod.load_yaml('llm_node', Path(args.config) if args.config else None)
    for name, value in (('redis.url', args.redis_url), ('ollama.host', args.ollama_host),
                        ('ollama.model', args.model), ('ollama.parallel_slots', args.slots),
                        ('scheduler.claim_idle_s', args.claim_idle_s),
                        ('redis.key_prefix', args.key_prefix)):
        if value is not None:
            values[name] = settings_mod.check('llm_node', name, value)
    if args.no_warmup:
        values['ollama.warmup'] = False
    return values


def check_redis_url(url: str) -> None:
    """Parse ``url`` as redis-py will (no connection is made).

    Raises:
        ConfigError: not a ``redis://``, ``rediss://`` or ``unix://`` URL redis-py accepts.
    """
    from redis.asyncio import ConnectionPool
    try:
        ConnectionPool.from_url(url)
    except ValueError as exc:
        raise ConfigError('redis.url %r: %s' % (url, exc)) from exc


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of ``claudia-llm worker``; returns the exit code (0 after a clean stop).

    A bad ``--config``, option value or Redis URL is one line on stderr and exit code 2.
    """
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.config:
            check_params_file(args.config)
        settings = settings_from_args(args)
        check_redis_url(settings['redis.url'])
    except (UsageError, ConfigError) as exc:
        print('claudia-llm: error: %s' % exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, stop, name=args.name, drain_s=args.drain_s)

    asyncio.run(serve())
    return 0


if __name__ == '__main__':
    sys.exit(main())
