"""Serve the explorer app (app/explorer.ipynb) with Voilà on 127.0.0.1 only: what `make app` runs.

    python app/serve.py [--port 8866]

Voilà runs the notebook in a fresh kernel for each visitor and shows only its outputs (the code
cells are hidden): the same ``ExplorerApp`` as notebook 07, with its busy state. The server
and the kernels listen on 127.0.0.1 only. ``voila_command`` is also what tests/test_browser.py
and tests/test_app_server.py start, so the tests serve exactly what `make app` serves.

What a visitor may cost, and who may call the server, is set in app/config/voila.py (read by
Voilà from that folder only): at most 4 kernels at once (about 1 GB each), a kernel ended after
10 minutes without activity, requests refused (403) unless their ``Host`` is a loopback address or
``localhost``, websocket messages up to 64 MiB (the app refuses uploads over 50 MB with an
``error:`` line; the page (template ``unioncam``) sends no content of a larger file).

Two Voilà settings are needed with this environment (JupyterLab 4.6 next to Voilà 0.5, whose
front end bundles JupyterLab 4.2): only the widget extensions are loaded (the other installed
JupyterLab extensions, e.g. nbgrader's, fail to load in Voilà and stop the widgets from
rendering), and the template ``unioncam`` (app/jupyter/voila/templates/) is Voilà's ``lab``
template without its two stylesheets from a CDN, so the app also works offline.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "explorer.ipynb"
CONFIG = HERE / "config"          # voila.py: kernel limit and culling, Host check, websocket message size
EXTENSIONS = ["@jupyter-widgets/jupyterlab-manager", "@voila-dashboards/widgets-manager8", "jupyterlab_pygments"]


def voila_command(port: int, python: str = sys.executable, notebook: Path = NOTEBOOK,
                  options: tuple[str, ...] = ()) -> list[str]:
    """The Voilà command line that serves ``notebook`` (the explorer) on 127.0.0.1:``port`` with the
    settings of app/config/voila.py; ``options`` (``--Class.trait=value``) override them (tests)."""
    return [python, "-m", "voila", str(notebook), "--no-browser", "--template=unioncam",
            "--Voila.ip=127.0.0.1", f"--port={port}", "--Voila.port_retries=0",
            f"--Voila.config_file_paths={CONFIG}",
            *[f"--VoilaConfiguration.extension_allowlist={name}" for name in EXTENSIONS], *options]


def voila_env(env: dict | None = None) -> dict:
    """The environment for Voilà: its template folder on JUPYTER_PATH, matplotlib without a display."""
    env = dict(os.environ if env is None else env)
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(HERE / "jupyter"), env.get("JUPYTER_PATH")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def free_port(preferred: int = 0) -> int:
    """``preferred`` if nothing listens on it at 127.0.0.1, else a free port chosen by the system."""
    for port in (preferred, 0) if preferred else (0,):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8866, help="port on 127.0.0.1 (another free one if taken)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        print(f"error: --port {args.port} is not a port number: give 1-65535", file=sys.stderr)
        return 2
    port = free_port(args.port)
    print(f"explorer app: http://127.0.0.1:{port}/   (the first figure takes ~30 s on 2 CPU cores; Ctrl-C stops it)",
          flush=True)
    command = voila_command(port)
    os.execve(command[0], command, voila_env())       # Voilà replaces this process: Ctrl-C stops it directly


if __name__ == "__main__":
    sys.exit(main())
