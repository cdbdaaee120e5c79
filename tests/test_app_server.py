"""The explorer app's Voilà server (app/serve.py, app/config/voila.py) as a visitor and an attacker
meet it (issue 19, items 5 and 6): a request naming another host is refused, a kernel nobody uses
ends, no more kernels than the limit start, and websocket messages as large as the largest upload
pass. The server is started on 127.0.0.1 by the test, on a one-cell notebook, and stopped by pid."""
from __future__ import annotations

import http.client
import re
import subprocess
import time
from pathlib import Path

import nbformat
from traitlets.config.loader import PyFileConfigLoader
from voila_process import load_serve, stop

from unioncam_lite.apps.explore.explorer import MAX_UPLOAD_BYTES

ROOT = Path(__file__).resolve().parents[1]




def test_the_server_settings_limit_what_a_visitor_costs():
    serve = load_serve()
    command = serve.voila_command(8866)
    assert f"--Voila.config_file_paths={ROOT / 'app' / 'config'}" in command
    config = PyFileConfigLoader("voila.py", path=str(ROOT / "app" / "config")).load_config()
    assert config.VoilaConfiguration.multi_kernel_manager_class.__name__ == "LimitedKernelManager"
    assert config.VoilaConfiguration.multi_kernel_manager_class.max_kernels.default_value == 4
    kernels = config.MappingKernelManager
    assert (kernels.cull_idle_timeout, kernels.cull_interval, kernels.cull_connected) == (600, 60, True)
    settings = config.Voila.tornado_settings
    assert settings["allow_remote_access"] is False and settings["local_hostnames"] == ["localhost"]
    assert settings["websocket_max_message_size"] >= MAX_UPLOAD_BYTES + 2**20    # the largest upload and its message




def test_other_hosts_are_refused_and_idle_kernels_end(tmp_path):
    import psutil

    serve = load_serve()
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                 "language": "python"}})
    notebook.cells = [nbformat.v4.new_code_cell('print("hello from the kernel")')]
    nbformat.write(notebook, tmp_path / "tiny.ipynb")
    port = serve.free_port()
    fast = ("--MappingKernelManager.cull_idle_timeout=3", "--MappingKernelManager.cull_interval=1",
            "--LimitedKernelManager.max_kernels=1")     # the settings of app/config/voila.py, sooner and smaller
    log = open(tmp_path / "voila.log", "w")  # noqa: SIM115 (closed in the finally, after the server)
    proc = subprocess.Popen(serve.voila_command(port, notebook=tmp_path / "tiny.ipynb", options=fast), cwd=tmp_path,
                            env=serve.voila_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    kernels: set[int] = set()

    def get(path: str, host: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            connection.request("GET", path, headers={"Host": host})
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()

    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "voila.log").read_text()
            try:
                get("/voila/static/none", "127.0.0.1")
                break
            except OSError:
                assert time.monotonic() < deadline, "Voilà did not start"
                time.sleep(0.3)
        here, evil = f"127.0.0.1:{port}", f"evil.example:{port}"      # (evil.example: a DNS-rebinding name)
        assert get("/", evil)[0] == 403
        assert get("/api/kernels/0123/channels", evil)[0] == 403
        status, page = get("/", here)
        assert status == 200 and "hello from the kernel" in page
        kernels = {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        kernel = re.search(r'"kernelId": "([0-9a-f-]{36})"', page).group(1)
        assert get(f"/api/kernels/{kernel}", here)[0] == 200
        assert get(f"/api/kernels/{kernel}", evil)[0] == 403
        status, page = get("/", f"localhost:{port}")                     # a second visitor, over the limit
        assert status == 503 and "The explorer is busy" in page
        deadline = time.monotonic() + 30                                # nobody connected: culled
        while get(f"/api/kernels/{kernel}", here)[0] != 404:
            assert time.monotonic() < deadline, "the idle kernel was not culled"
            time.sleep(0.5)
        assert get("/", f"localhost:{port}")[0] == 200                  # room again
    finally:
        if proc.poll() is None:
            kernels |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        stop(proc.pid)
        proc.wait(timeout=10)
        for pid in kernels:
            stop(pid)
        log.close()


def test_the_page_withholds_uploads_over_the_limit():
    """(The browser test uploads a 60 MB file through it: tests/test_browser.py.)"""
    template = (ROOT / "app" / "jupyter" / "voila" / "templates" / "unioncam" / "index.html.j2").read_text()
    assert f"const LIMIT = {MAX_UPLOAD_BYTES};" in template and "readAsArrayBuffer" in template
