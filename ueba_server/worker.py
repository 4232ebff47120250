"""The training worker process's entry point. The API process imports this module to name the entry
point, never scikit-learn itself, which keeps the server's start-up quick.

A worker is started before it has a job (the supervisor keeps one standing by): in a thread, it imports
the training code, warms it up (`training.warm_up`) and reads the connection table ahead when it is small
enough (`training.read_ahead`), while its main thread waits for the one job it will ever run on its end
of a pipe. Its process name says where it is: `ueba-standby` once that is done and no job came,
`ueba-run-<result id>` as soon as the job comes (ready or not). It then says so on the pipe (the
supervisor hands a run over only to a worker that answered) and trains. A worker whose server is gone
(the pipe at EOF, or another parent) exits at once, without a job and without running anything at exit.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from ueba_server.training_job import TrainingJob

if TYPE_CHECKING:  # the API process never imports pandas through this module
    from ueba_server.connections import WholeTable

STANDBY_NAME = "ueba-standby"
RUN_NAME_PREFIX = "ueba-run-"
# How often a waiting worker also checks its parent: the pipe's EOF says it first in every case but one
# where a copy of the server's end outlived the server.
PARENT_CHECK_SECONDS = 1.0
TOOK_THE_JOB = "took"
IMPORT_NICENESS = 10


def serve_one_job(connection: Connection, server_pid: int, database_path: Path) -> None:
    """Entry point of a worker process: waits for one job, then trains it."""
    # Ctrl+C in the server's terminal reaches every process of its group: the server's shutdown ends a
    # waiting worker; a training one behaves as a Python process does (KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    naming = threading.Lock()
    taken = threading.Event()
    prepared = _Prepared()
    importer = threading.Thread(
        target=_prepare_training, args=(naming, taken, database_path, prepared), name="import", daemon=True
    )
    importer.start()
    job = _wait_for_job(connection, server_pid)
    if job is None:
        # Nothing to save, and the import thread may hold an import lock that an exit handler would wait for.
        os._exit(0)
    with naming:
        taken.set()
        name_process(f"{RUN_NAME_PREFIX}{job.result_id}")
    connection.send(TOOK_THE_JOB)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    importer.join()
    # Here, not in the thread: a failed import raises again, ends the process, and the supervisor's
    # watcher records the run as WORKER_EXITED.
    from ueba_server.training import run_training

    run_training(job, prepared.connections)


@dataclass
class _Prepared:
    connections: WholeTable | None = None


def _prepare_training(
    naming: threading.Lock, taken: threading.Event, database_path: Path, prepared: _Prepared
) -> None:
    # A standby is started as a run begins: its import and warm-up (a CPU second or two) yield to that run
    # and to the API. Linux sets the niceness of this thread only; elsewhere it may fail, and nothing changes.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), IMPORT_NICENESS)
    with contextlib.suppress(Exception):  # the main thread imports it again and shows the error
        training = importlib.import_module("ueba_server.training")
        # Ahead of a run only: a worker started for a run that is waiting trains at once.
        if not taken.is_set():
            training.warm_up()
        if not taken.is_set():
            prepared.connections = training.read_ahead(database_path)
    with naming:
        if not taken.is_set():  # still no run's: ready for one
            name_process(STANDBY_NAME)


def _wait_for_job(connection: Connection, server_pid: int) -> TrainingJob | None:
    while not connection.poll(PARENT_CHECK_SECONDS):
        if os.getppid() != server_pid:
            return None
    try:
        return connection.recv()
    except (EOFError, OSError):
        return None


def name_process(name: str) -> None:
    """The name `ps -o comm` and /proc/PID/comm show (Linux; 15 bytes at most), so that an operator (and a
    test) tells the worker of a run from the one standing by. Elsewhere nothing happens."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w", encoding="ascii") as comm:
        comm.write(name[:15])
