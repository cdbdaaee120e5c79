"""The command line: figures for good input, one-line errors and exit code 2 for bad input."""
import subprocess
import sys

import pytest

from unioncam_lite.cli import main


@pytest.mark.parametrize("argv,message", [
    (["explain", "no_such_image.jpg"], "not found"),
    (["explain", "chelsea", "--model", "resnet"], "unknown model"),
    (["explain", "chelsea", "--layer", "features.nope"], "not found"),
    (["explain", "chelsea", "--class", "1000"], "out of range"),
    (["explain", "chelsea", "--theta", "101"], "outside [0, 100]"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_explain_writes_a_figure_and_a_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "unioncam_lite", "explain", "coffee", "--out", str(tmp_path),
                          "--class", "espresso", "--device", "cpu"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "coffee.png").stat().st_size > 10_000
    line = out.stdout.strip().splitlines()[-1]
    assert "espresso" in line and "chosen=" in line and "beta_fused=" in line
