"""A job worker process: ``python -m frmdn.jobs.worker FD THREADS`` (started by
:class:`frmdn.jobs.pool.JobRunner`, never by hand).

It runs the jobs it receives over the socket ``FD`` one after another with ``THREADS`` torch
threads, sends their progress and results back, and exits when asked or when the socket
closes. Messages are pickled: they only ever come from the runner that started this process.
"""

from __future__ import annotations

import pickle
import queue
import sys
import threading
from multiprocessing.connection import Connection

from frmdn.device import set_threads
from frmdn.jobs.pool import JobContext

__all__ = ["serve"]


def serve(fd: int, threads: int) -> None:
    """Run jobs from the connection on ``fd`` until told to exit."""
    set_threads(threads)
    connection = Connection(fd)
    tasks: queue.SimpleQueue = queue.SimpleQueue()
    stopped: set[int] = set()
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        with send_lock:
            connection.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def listen() -> None:  # control messages arrive while a job runs
        while True:
            try:
                message = pickle.loads(connection.recv_bytes())
            except (EOFError, OSError):
                message = ("exit",)
            if message[0] == "stop":
                stopped.add(message[1])
            elif message[0] == "run":
                tasks.put(message[1:])
            if message[0] == "exit":
                tasks.put(None)
                return

    threading.Thread(target=listen, name="frmdn-worker-listen", daemon=True).start()
    while (task := tasks.get()) is not None:
        job_id, fn, args = task
        try:
            value = fn(JobContext(job_id, send, stopped.__contains__), *args)
        except BaseException as error:  # noqa: BLE001 - report every failure, keep serving
            send(("failed", job_id, f"{type(error).__name__}: {error}".splitlines()[0]))
        else:
            send(("done", job_id, value))
        stopped.discard(job_id)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
