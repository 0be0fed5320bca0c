r"""``claudia-llm worker``: an LLM worker process on the Redis request queue (scale-out).

Run it on this or another machine, pointed at the robot's Redis and any Ollama host (or,
with ``--llm-backend openai --base-url``, an OpenAI-compatible server such as llama-server
or vLLM); several workers share the request streams. Settings come from the same ROS parameters
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
from typing import Dict, List, Optional

from claudia_llm.core import settings as settings_mod
from claudia_llm.core.config import Config, config_from
from claudia_llm.core.errors import ConfigError
from claudia_llm.core.health import safe_url
from claudia_llm.params_file import UsageError, check_params_file

log = logging.getLogger('claudia_llm.worker')


async def run_worker(config: Config, stop: asyncio.Event,
                     name: Optional[str] = None, drain_s: float = 5.0) -> int:
    """Serve the queue until ``stop`` is set; returns the number of requests processed.

    Args:
        config: llm_node's configuration (``ollama``, ``redis``, ``scheduler.claim_idle_s``,
            ``safety`` for the prompt); clients are built by ``core.build``, as in the node.
        stop: set it to stop the worker gracefully.
        name: consumer name, unique among workers; default ``worker@<host>:<pid>``.
        drain_s: how long running requests may finish after ``stop``, s.
    """
    from claudia_llm.core import build
    name = name or 'worker@%s:%d' % (socket.gethostname(), os.getpid())
    llm = build.make_llm(config)
    redis, blocking = build.make_redis_clients(config)
    worker = build.make_worker(config, llm, redis, blocking, name)
    warmup = asyncio.ensure_future(_warmup(llm)) if config.ollama.warmup else None
    try:
        await worker.start()
        log.info('worker %s: %s (%s, %d slots) on %s', name, config.ollama.host,
                 config.ollama.model, config.ollama.parallel_slots,
                 safe_url(config.redis.url))
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
    parser.add_argument('--llm-backend', choices=('ollama', 'openai'), help='llm.backend')
    parser.add_argument('--base-url', help='llm.base_url (OpenAI-compatible API root)')
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


def config_from_args(args: argparse.Namespace,
                     environ: Optional[Dict[str, str]] = None) -> Config:
    """llm_node's configuration from ``--config`` (or the packaged YAML) and the options.

    Precedence of the Ollama host: ``--ollama-host`` > the YAML's ``ollama.host`` >
    ``OLLAMA_HOST`` in ``environ`` (default ``os.environ``) > Ollama's default; of the
    OpenAI-compatible API root the same with ``--base-url``, ``llm.base_url`` and
    ``OPENAI_BASE_URL``.

    Raises:
        ConfigError: a bad YAML or option value.
    """
    values = settings_mod.load_yaml('llm_node', Path(args.config) if args.config else None)
    for name, value in (('redis.url', args.redis_url), ('ollama.host', args.ollama_host),
                        ('llm.backend', args.llm_backend), ('llm.base_url', args.base_url),
                        ('ollama.model', args.model), ('ollama.parallel_slots', args.slots),
                        ('scheduler.claim_idle_s', args.claim_idle_s),
                        ('redis.key_prefix', args.key_prefix)):
        if value is not None:
            values[name] = value
    if args.no_warmup:
        values['ollama.warmup'] = False
    return config_from(values, 'llm_node', environ)


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
        config = config_from_args(args)
        check_redis_url(config.redis.url)
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
        await run_worker(config, stop, name=args.name, drain_s=args.drain_s)

    asyncio.run(serve())
    return 0


if __name__ == '__main__':
    sys.exit(main())
