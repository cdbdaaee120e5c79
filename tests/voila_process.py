"""Starting and stopping the Voilà app in tests (tests/test_browser.py, tests/test_app_server.py)."""
from __future__ import annotations

import importlib.util
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]


def load_serve() -> ModuleType:
    """app/serve.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("app_serve", ROOT / "app" / "serve.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    """Until something listens on 127.0.0.1:``port``; an AssertionError if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"Voilà exited with status {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"Voilà did not listen on 127.0.0.1:{port} within {timeout} s")


def stop(pid: int, procs: Iterable[subprocess.Popen] = ()) -> None:
    """SIGTERM ``pid``, then SIGKILL if it is still there after 10 s; then reap ``procs``."""
    import psutil

    try:
        p = psutil.Process(pid)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)
    for proc in procs:
        proc.wait(timeout=10)


def shut_down(proc: subprocess.Popen, kernels: set[int], log: IO[str], context: Any = None) -> None:
    """A browser test's clean-up: close the browser ``context`` (if any), stop the Voilà server ``proc``
    and every kernel it started (``kernels`` plus its children still alive), then close its ``log``."""
    import psutil

    if context is not None:
        context.close()
    kernels = kernels | ({c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
                         if proc.poll() is None else set())
    stop(proc.pid, [proc])
    for pid in kernels:
        stop(pid)
    log.close()


def start_voila(log_path: Path) -> tuple[int, subprocess.Popen, IO[str]]:
    """Voilà serving the explorer exactly as ``make app`` does (app/serve.py), on a free port, its output
    in ``log_path``: ``(port, process, log)``; :func:`shut_down` stops it and closes the log."""
    serve = load_serve()
    port = serve.free_port()
    log = open(log_path, "w")  # noqa: SIM115 (closed by shut_down, after the server)
    proc = subprocess.Popen(serve.voila_command(port), cwd=ROOT, env=serve.voila_env(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    return port, proc, log
