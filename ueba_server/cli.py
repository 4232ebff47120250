"""Command line of the reference server.

    python -m ueba_server [--host 127.0.0.1] [--port 8765] [--data-dir D]
                              [--tls | --certfile F --keyfile F] [--connections N] [--seed S]
                              [--epochs N] [--demo] [--max-trainings N] [--client-id ...] ...
    python -m ueba_server import FILE [FILE ...] --data-dir D [--replace]

Secrets come from options or, better (argv is visible to every local user), from the environment:
PRIVX_API_CLIENT_ID, PRIVX_API_CLIENT_SECRET, PRIVX_API_OAUTH_CLIENT_ID, PRIVX_API_OAUTH_CLIENT_SECRET,
PRIVX_API_VIEW_CLIENT_ID, PRIVX_API_VIEW_CLIENT_SECRET.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from pathlib import Path

import uvicorn

from ueba_server import config as defaults
from ueba_server.config import (
    ENVIRONMENT,
    PARENT_PID_VARIABLE,
    VIEW_PERMISSIONS,
    ApiClient,
    OAuthClient,
    ServerConfig,
)
from ueba_server.tls import self_signed_certificate


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ueba_server",
        description="PrivX UEBA reference server. See `python -m ueba_server import --help` too.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="SQLite store, models, TLS files")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    tls.add_argument("--certfile", type=Path, help="serve HTTPS with this certificate (PEM); needs --keyfile")
    parser.add_argument("--keyfile", type=Path, help="the private key (PEM) of --certfile")
    parser.add_argument("--connections", type=_positive, default=defaults.DEFAULT_CONNECTIONS,
                        help="connections to generate on a first start (empty store)")  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=defaults.DEFAULT_SEED, help="seed of generator and trainings"
    )
    parser.add_argument(
        "--epochs", type=_positive, default=defaults.DEFAULT_EPOCHS, help="epochs per training"
    )
    parser.add_argument("--demo", action="store_true", help="on a first start, create a dataset and train it")
    parser.add_argument("--histogram-cache", type=_not_negative, default=defaults.HISTOGRAM_CACHE_SIZE,
                        help="re-binned loss histograms kept in memory for listings (0: none)")  # fmt: skip
    parser.add_argument("--max-trainings", type=_positive, default=defaults.DEFAULT_MAX_TRAININGS,
                        help="trainings that may run at once; one more is refused (429)")  # fmt: skip
    parser.add_argument("--token-lifetime", type=_positive, default=defaults.DEFAULT_TOKEN_LIFETIME_SECONDS,
                        help="seconds a bearer token stays valid")  # fmt: skip
    for option, variable in ENVIRONMENT.items():
        parser.add_argument(
            f"--{option.replace('_', '-')}", default=os.environ.get(variable), help=f"or ${variable}"
        )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def import_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ueba_server import",
        description="Import connection records (CSV or JSONL; columns in docs/server.md) into a data dir.",
    )
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--replace", action="store_true", help="delete the connections already there first")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or a positive integer, not {text}")
    return value


def server_config(options: argparse.Namespace) -> ServerConfig:
    """Validates the credential options; unset ones fall back to the well-known demo values."""
    if bool(options.client_id) != bool(options.client_secret):
        raise SystemExit(
            "error: --client-id and --client-secret go together (or PRIVX_API_CLIENT_ID/_SECRET)"
        )
    if bool(options.view_client_id) != bool(options.view_client_secret):
        raise SystemExit("error: --view-client-id and --view-client-secret go together")
    clients = [ApiClient(options.client_id or defaults.DEMO_CLIENT_ID,
                         options.client_secret or defaults.DEMO_CLIENT_SECRET)]  # fmt: skip
    if options.view_client_id:
        clients.append(ApiClient(options.view_client_id, options.view_client_secret, VIEW_PERMISSIONS))
    oauth_client = OAuthClient(
        options.oauth_client_id or defaults.DEMO_OAUTH_CLIENT_ID,
        options.oauth_client_secret or defaults.DEMO_OAUTH_CLIENT_SECRET,
    )
    return ServerConfig(
        data_dir=options.data_dir,
        api_clients=tuple(clients),
        oauth_client=oauth_client,
        token_lifetime_seconds=options.token_lifetime,
        connections=options.connections,
        seed=options.seed,
        epochs=options.epochs,
        demo=options.demo,
        histogram_cache_size=options.histogram_cache,
        max_trainings=options.max_trainings,
    )


def _banner(config: ServerConfig, base_url: str, ca_cert: Path | None) -> str:
    lines = [f"UEBA reference server: {base_url} (data: {config.data_dir})"]
    if ca_cert is not None:
        lines.append(f"TLS certificate to trust (PEM): {ca_cert}")
    # Only the well-known demo defaults are ever printed, never a secret someone configured.
    manage = config.api_clients[0]
    if manage.is_demo:
        lines.append(f"Demo API client: {manage.client_id} / {manage.secret}")
    else:
        lines.append(f"API client: {manage.client_id} (secret as configured)")
    if config.oauth_client.is_demo:
        lines.append(f"Demo OAuth client: {config.oauth_client.client_id} / {config.oauth_client.secret}")
    return "\n".join(lines)


def _exit_with_parent(parent_pid: int) -> None:
    """Ends the server gracefully once the process that started it is gone (see launch.py), so that no
    server outlives the app or the test session it was started for."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(argv: list[str]) -> None:
    parser = serve_parser()
    options = parser.parse_args(argv)
    if (options.certfile is None) != (options.keyfile is None):
        parser.error("--certfile and --keyfile go together")
    config = server_config(options)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = options.certfile, options.keyfile
    if options.tls:
        certfile, keyfile = self_signed_certificate(config.data_dir)
    scheme = "https" if certfile else "http"
    logging.basicConfig(
        level=options.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    print(
        _banner(config, f"{scheme}://{options.host}:{options.port}", certfile if options.tls else None),
        flush=True,
    )

    from ueba_server.app import create_app  # after the logging set-up, which it relies on

    if PARENT_PID_VARIABLE in os.environ:
        _exit_with_parent(int(os.environ[PARENT_PID_VARIABLE]))

    uvicorn.run(
        create_app(config),
        host=options.host,
        port=options.port,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        log_level=options.log_level,
        timeout_graceful_shutdown=10,
    )


def import_connections(argv: list[str]) -> None:
    from ueba_server.connections import ConnectionStore
    from ueba_server.database import Database
    from ueba_server.importer import ImportProblem, import_files

    options = import_parser().parse_args(argv)
    database = Database(ServerConfig(data_dir=options.data_dir).database_path)
    database.initialise()
    try:
        written = import_files(ConnectionStore(database), options.files, replace=options.replace)
    except (ImportProblem, OSError) as problem:
        raise SystemExit(f"error: {problem}") from None
    except sqlite3.Error as problem:  # a full disk, a locked or damaged store: the transaction rolled back
        raise SystemExit(f"error: {database.path}: {problem}: nothing was imported or deleted") from None
    print(f"Imported {written} connections into {database.path}")


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["import"]:
        import_connections(arguments[1:])
    else:
        serve(arguments)
