"""The learners' JupyterLab (`make lab`, config folder lab/): the course, not nbgrader's grading tools.

A real `jupyter lab` starts headless on a free 127.0.0.1 port with ``JUPYTER_CONFIG_PATH=lab``
(as `make lab` starts it) and an empty user config folder; its REST API and its page must show
nbgrader's server extensions and JupyterLab extension disabled and the news pop-up off. Before
lab/ existed, the same lab served the Formgrader (``/formgrader``), listed ``@jupyter/nbgrader``
among its extensions and logged "No nbgrader_config.py found".
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "lab"
TOKEN = "learner-lab-test"
START_BOUND_S = 90   # a lab starts in 5-20 s on 2 busy cores; the bound only stops a hung test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


@pytest.fixture(scope="module")
def learner_lab(tmp_path_factory):
    pytest.importorskip("jupyterlab")
    tmp = tmp_path_factory.mktemp("lab")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "user-config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTER_CONFIG_PATH=str(LAB))                    # what `make lab` sets
    port = free_port()
    log = open(tmp / "lab.log", "w")   # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                             f"--IdentityProvider.token={TOKEN}", "--allow-root", f"--ServerApp.root_dir={ROOT / 'notebooks'}"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_BOUND_S
        while True:
            try:
                if get(f"{base}/api/status")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp / "lab.log").read_text()
            assert time.monotonic() < deadline, "jupyter lab did not start:\n" + (tmp / "lab.log").read_text()
            time.sleep(0.5)
        yield base, tmp / "lab.log"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_learner_lab_has_no_nbgrader_and_no_news(learner_lab):
    base, log = learner_lab
    # nbgrader's server extensions are off: their pages and APIs are not served
    for path in ("/formgrader", "/courses", "/assignments"):
        assert get(base + path)[0] == 404, path
    # nbgrader's JupyterLab extension is disabled in the page the browser gets
    status, page = get(f"{base}/lab")
    assert status == 200
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    assert "@jupyter/nbgrader" in config["disabledExtensions"]
    assert not any(e["name"] == "@jupyter/nbgrader" for e in config.get("federated_extensions", [])
                   if e["name"] not in config["disabledExtensions"])
    # the news pop-up and the update check are off by default
    status, body = get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification")
    defaults = json.loads(body)["schema"]["properties"]    # the defaults, with lab/'s overrides applied
    assert (defaults["fetchNews"]["default"], defaults["checkForUpdates"]["default"]) == ("false", False)
    # the course is there, and the server said nothing about nbgrader
    status, body = get(f"{base}/api/contents")
    assert status == 200 and any(item["name"] == "04_union.ipynb" for item in json.loads(body)["content"])
    text = log.read_text()
    assert "nbgrader_config.py" not in text and "nbgrader.server_extensions" not in text, text[-3000:]
