"""`carnet run SERVICE`: nameko's runner, except that a service that cannot start says why in one
line (`Error: …` on stderr, exit 2) instead of a 100-line traceback, and a start nameko refuses
(a wrong service path) no longer exits 0.

Run as `python -m services.common.nameko_ext.serve SERVICE` (what `carnet run` executes):
eventlet must patch the standard library before psycopg, pika or requests are imported, which a
process that already loaded the CLI cannot promise. Once started, it serves exactly as `nameko
run --config services/SERVICE/config.yaml services.SERVICE.service:ServiceClass` does: the same
config, the same JSON log lines on stdout, SIGTERM finishing in-flight workers.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

CANNOT_START, BUG = 2, 70  # services/cli/errors.py: 2 could not run, 70 a bug in Carnet
ROOT = Path(__file__).resolve().parents[3]
MAX_LINE = 300


def _debug() -> bool:
    """CARNET_DEBUG=1 keeps the traceback, as for every other `carnet` command."""
    return os.environ.get("CARNET_DEBUG", "").lower() not in ("", "0", "false", "no")


def _first(exc: BaseException) -> str:
    """The first line of an exception's text (psycopg's go on with hints), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def why(service: str, exc: BaseException) -> tuple[str, int]:
    """One line and an exit code for what stopped a start: the operator's to fix, or a bug.

    A provider's own refusal (a missing key, an unreadable quota) is a RuntimeError or a
    ValueError; a dependency refusing (a port taken, a vhost without Carnet's exchanges) an
    OSError, a psycopg or an AMQP error. Anything else is Carnet's mistake, exit 70."""
    import psycopg
    from amqp.exceptions import AMQPError
    from kombu.exceptions import KombuError

    said = _first(exc)
    if isinstance(exc, RuntimeError | ValueError):
        line, code = said, CANNOT_START
    elif isinstance(exc, psycopg.Error):
        line, code = f"PostgreSQL refused: {type(exc).__name__}: {said}", CANNOT_START
    elif isinstance(exc, AMQPError | KombuError):
        line = f"RabbitMQ refused ({type(exc).__name__}: {said}); has `carnet broker setup` run?"
        code = CANNOT_START
    elif isinstance(exc, OSError):
        line, code = f"{type(exc).__name__}: {said}", CANNOT_START
    else:
        what = f"internal error ({type(exc).__name__}); run again with CARNET_DEBUG=1"
        line, code = f"{what} for the traceback, and report it", BUG
    prefix = f"{service} cannot start: "
    line = " ".join((line if line.startswith(prefix) else prefix + line).split())
    return (line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"), code


def _load(service: str) -> tuple[type, dict[str, Any]]:
    """The service class and its config.yaml, environment substituted as `nameko run` does."""
    import logging.config

    import yaml
    from nameko.cli.main import setup_yaml_parser

    setup_yaml_parser()
    with open(ROOT / "services" / service / "config.yaml") as config_file:
        config = yaml.safe_load(config_file)
    logging.config.dictConfig(config["LOGGING"])
    module = __import__(f"services.{service}.service", fromlist=["_"])
    return getattr(module, f"{service.capitalize()}Service"), config


def serve(service: str) -> int:
    """Start the service, then serve until SIGTERM or Ctrl-C; the exit code."""
    from nameko.runners import ServiceRunner

    termination: Termination | None = None
    try:
        service_cls, config = _load(service)
        runner = ServiceRunner(config)
        runner.add_service(service_cls)
        # The hub prints every exception a greenthread raises, and a provider's setup() runs
        # in one: while starting, the line below says it once (CARNET_DEBUG keeps both).
        _check_topology(config["AMQP_URI"])
        quiet = QuietHub(not _debug())
        termination = Termination(runner)
        runner.start()
        termination.started = True
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        if termination is not None and termination.requested:
            return 0  # its stop, racing the start, is what raised: it was asked to stop
        if _debug():
            raise
        line, code = why(service, exc)
        sys.stdout.flush()  # the JSON lines logged so far come first
        print(f"Error: {line}", file=sys.__stderr__, flush=True)  # past QuietHub's
        # Threads a half-started container left (the pool's, the relay's) must not hold the
        # process: nothing was served, nothing is in flight.
        os._exit(code)
    quiet.undo()  # serving: a crashed greenthread is printed, as nameko leaves it
    _wait(runner)
    return 0


def _check_topology(amqp_uri: str) -> None:
    """Refuse to start on a vhost `carnet broker setup` has not prepared: nameko's start would
    print a traceback per queue and, now and then, hang on the closed channel (an eventlet
    hub race). A broker that does not answer is waited for by the service itself, as ever."""
    import logging

    from pika.exceptions import AMQPConnectionError

    from services.common.broker import missing_exchanges, vhost_of

    pika_log = logging.getLogger("pika")
    level, pika_log.level = pika_log.level, logging.CRITICAL  # its retries are the service's
    try:
        missing = missing_exchanges(amqp_uri)
    except AMQPConnectionError:
        return
    finally:
        pika_log.setLevel(level)
    if missing:
        raise RuntimeError(
            f"RabbitMQ vhost '{vhost_of(amqp_uri)}' has no exchange {', '.join(missing)}: "
            "run `carnet broker setup` first"
        )


class QuietHub:
    """While starting, the hub prints nothing: a provider's setup() or start() runs in a
    greenthread, and the hub prints what one raises (for a socket callback, even when told
    not to) before the start fails with it — the one line in serve() says it instead."""

    def __init__(self, quiet: bool) -> None:
        import eventlet.debug
        import eventlet.hubs

        self.hub = eventlet.hubs.get_hub()
        self.loud, self.stderr = self.hub.squelch_exception, sys.stderr
        if quiet:
            eventlet.debug.hub_exceptions(False)
            self.hub.squelch_exception = lambda fileno, _exc_info: self.hub.remove_descriptor(
                fileno
            )
            # A greenthread woken from a queue still printed its traceback now and then (1
            # clean run of 3): nothing a start prints on stderr is the operator's to read.
            sys.stderr = io.StringIO()

    def undo(self) -> None:
        """Back to eventlet's defaults."""
        import eventlet.debug

        eventlet.debug.hub_exceptions(True)
        self.hub.squelch_exception = self.loud
        sys.stderr = self.stderr


class Termination:
    """SIGTERM stops the runner, in-flight workers finishing (as `nameko run`); one that lands
    while it still starts (health can answer before every consumer has started) lets the
    start finish first, or kills it after `grace` seconds when it waits on a dependency that
    never answers: nameko's stop, racing its own start, hung or raised."""

    def __init__(self, runner: Any, grace: float = 10.0) -> None:
        import signal

        self.runner, self.grace = runner, grace
        self.started = self.requested = False
        # A signal handler runs on the main loop and cannot use eventlet primitives: the
        # stop runs in a greenthread.
        signal.signal(signal.SIGTERM, lambda *_: self._request())

    def _request(self) -> None:
        import eventlet

        self.requested = True
        eventlet.spawn_n(self.runner.stop if self.started else self._stop_once_started)

    def _stop_once_started(self) -> None:
        import eventlet

        waited = 0.0
        while not self.started and waited < self.grace:
            eventlet.sleep(0.1)
            waited += 0.1
        if self.started:
            self.runner.stop()
            return
        # nameko's kill can itself wait on the dependency: give it a moment, then leave.
        eventlet.spawn_n(self.runner.kill)
        eventlet.sleep(1.0)
        sys.stdout.flush()
        os._exit(0)  # asked to stop, and it had not started: nothing was in flight


def _wait(runner: Any) -> None:
    """Serve until the runner stops; Ctrl-C stops it, a second one kills it (as `nameko run`)."""
    import errno

    import eventlet

    # A signal landing while the main greenlet waits on a socket surfaces as EINTR here:
    # waiting in a greenthread of its own lets us go back to waiting (nameko.cli.run does too).
    waiting = eventlet.spawn(runner.wait)
    while True:
        try:
            waiting.wait()
            return
        except OSError as exc:
            if exc.errno != errno.EINTR:
                raise
        except KeyboardInterrupt:
            try:
                runner.stop()
            except KeyboardInterrupt:
                runner.kill()


def main(argv: list[str]) -> int:
    """`python -m services.common.nameko_ext.serve SERVICE`."""
    if len(argv) != 1 or not (ROOT / "services" / argv[0] / "config.yaml").exists():
        print("Error: usage: python -m services.common.nameko_ext.serve SERVICE", file=sys.stderr)
        return CANNOT_START
    return serve(argv[0])


if __name__ == "__main__":
    import warnings

    # Its deprecation banner is neither a JSON line nor the one line an operator should read.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()  # before anything imports socket, ssl, threading or time
    sys.exit(main(sys.argv[1:]))
