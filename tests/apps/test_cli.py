"""The command line: figures for good input, one-line errors and exit code 2 for bad input."""
import subprocess
import sys

import pytest

from unioncam_lite.apps.cli import main


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


def test_theta_not_a_number_is_one_line(capsys):
    assert main(["explain", "chelsea", "--theta", "abc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --theta: invalid float value: 'abc'") and err.count("\n") == 1
    assert "usage:" not in err


def test_same_file_name_twice_gives_two_figures(tmp_path, capsys):
    from PIL import Image

    for folder, colour in (("a", (200, 30, 30)), ("b", (30, 30, 200))):
        (tmp_path / folder).mkdir()
        Image.new("RGB", (80, 60), colour).save(tmp_path / folder / "cat.png")
    out = tmp_path / "figures"
    assert main(["explain", str(tmp_path / "a" / "cat.png"), str(tmp_path / "b" / "cat.png"), "--model", "shapes_cnn",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["cat.png", "cat_2.png"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cat ") and lines[1].startswith("cat_2 ")


def test_figure_names():
    from unioncam_lite.apps.commands.explain import figure_names

    assert figure_names(["a/x.jpg", "b/x.png", "x_2.jpg", "c/x.jpg", "y"]) == ["x", "x_2", "x_2_2", "x_3", "y"]


def test_explain_out_is_checked_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("unioncam_lite.models.load_model", lambda *a, **k: pytest.fail("model loaded"))
    a_file = tmp_path / "file.png"
    a_file.write_bytes(b"x")
    for out, message in ((a_file, "is a file, not a folder"), (a_file / "sub", "cannot be created: ")):
        assert main(["explain", "chelsea", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("error: --out") and err.count("\n") == 1, err


def test_unwritable_out_is_one_line(tmp_path, monkeypatch, capsys):
    """(As root every folder is writable, so the refusal is simulated where the check asks the OS.)"""
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr("unioncam_lite.outputs.tempfile.TemporaryFile", refused)
    monkeypatch.setattr("unioncam_lite.models.load_model", lambda *a, **k: pytest.fail("model loaded"))
    for argv in (["explain", "chelsea", "--out", str(tmp_path / "figs")],
                 ["evaluate", "--images", "shapes", "--model", "shapes_cnn", "--out", str(tmp_path / "r.csv")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "is not writable (Permission denied): choose another folder" in err and err.count("\n") == 1


def test_a_1x1_layer_is_a_one_line_warning(tmp_path, capsys):
    """Issue 9, defect 7: the CLI warns (once, in one line) that a layer without spatial extent gives constant maps."""
    from unioncam_lite.apps.cli import main

    assert main(["explain", "chelsea", "--layer", "classifier.0", "--out", str(tmp_path), "--device", "cpu"]) == 0
    err = capsys.readouterr().err.splitlines()
    warnings = [line for line in err if line.startswith("warning:")]
    assert len(warnings) == 1 and "'classifier.0' has a 1×1 feature map" in warnings[0]
    assert (tmp_path / "chelsea.png").is_file()


def test_1x1_warning_text(capsys):

    from unioncam_lite.apps.cli import _show_warning

    _show_warning(UserWarning("target layer 'x' has a 1×1 feature map"), UserWarning, "f.py", 1)
    _show_warning(UserWarning("target layer 'x' has a 1×1 feature map"), UserWarning, "f.py", 1)
    assert capsys.readouterr().err == "warning: target layer 'x' has a 1×1 feature map\n"


# --------------------------------------------------------------------------- one tree, one error convention

@pytest.mark.parametrize("command", ["explain", "evaluate", "train-shapes", "student", "assignments"])
def test_every_subcommand_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m unioncam_lite {command}")


@pytest.mark.parametrize("argv,message", [
    ([], "the following arguments are required: COMMAND"),
    (["explian", "chelsea"], "invalid choice: 'explian'"),
    (["student", "notebooks"], "the following arguments are required: DEST"),
    (["train-shapes", "--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
    (["train-shapes", "--epochs", "0"], "argument --epochs: 0 is not a positive number"),
    (["assignments", "--points", "many"], "argument --points: invalid float value: 'many'"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert "usage:" not in err and "Traceback" not in err and "--help)" in err


def test_library_argument_names_become_flags():
    from unioncam_lite.apps.cli import build_parser, cli_message

    names = build_parser().parse_args(["evaluate"]).flags      # each subcommand's {argument: flag}
    assert names["n"] == "--num-images" and names["root"] == "--root" and "help" not in names
    assert (cli_message("n=9, but the data set has only 3 images: use n=3 or fewer", names)
            == "--num-images 9, but the data set has only 3 images: use --num-images 3 or fewer")
    assert (cli_message("root= goes with dataset=; for a folder of photographs use images=DIR", names)
            == "--root goes with --dataset; for a folder of photographs use --images DIR")
    # quoted text (paths, names) and words that merely end in an argument's name stay as they are
    assert (cli_message("out='/tmp/n=3/r.csv' exists: choose another out=PATH (min=2, Kaggle's n=1)", names)
            == "--out '/tmp/n=3/r.csv' exists: choose another --out PATH (min=2, Kaggle's --num-images 1)")
    assert cli_message("theta=101.0 is outside [0, 100]", {}) == "theta=101.0 is outside [0, 100]"


def test_a_library_error_names_the_flag(tmp_path, monkeypatch, capsys):
    """The library says ``theta=101.0`` (its argument); the command says ``--theta 101.0``."""
    monkeypatch.setattr("unioncam_lite.models.load_model", lambda *a, **k: pytest.fail("model loaded"))
    assert main(["explain", "chelsea", "--theta", "101", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --theta 101.0 is outside [0, 100]") and err.count("\n") == 1, err


def test_explain_diagnose_prints_the_findings(tmp_path, capsys):
    """explain --diagnose (issue 20 §3): the pooled head of shapes_cnn is named, with what it means for θ."""
    from PIL import Image

    from unioncam_lite.data.shapes import generate

    image = tmp_path / "shape.png"
    Image.fromarray(generate(1, seed=0)[0][0]).save(image)
    assert main(["explain", str(image), "--model", "shapes_cnn", "--diagnose", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "layer 'features.block4': A is 64×8×8 per image" in out
    assert "θ (Eq. 1) has no effect" in out and "masked passes" in out
