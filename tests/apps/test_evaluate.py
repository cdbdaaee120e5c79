"""The evaluate command: one process, sharded over two with torchrun, on data sets in their real
layouts, resumed after an interruption; bad input and bad outputs fail first, in one line."""
import contextlib
import csv
import json
import os
import re
import socket
import subprocess
import sys

import pytest
import torch

from unioncam_lite.apps.cli import main
from unioncam_lite.data.images import IMAGE_DIR


def torchrun(nproc):
    """torchrun for ``nproc`` processes; ``--standalone`` binds a free port itself, so two runs at
    once on one machine cannot collide as a fixed ``--master_port`` did (EADDRINUSE)."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]


@contextlib.contextmanager
def ports_taken(*ports):
    """Listen on ``ports`` for the block, as other jobs on a shared machine may."""
    with contextlib.ExitStack() as stack:
        for port in ports:
            sock = stack.enter_context(socket.socket())
            with contextlib.suppress(OSError):
                sock.bind(("", port))
                sock.listen()
        yield


def run_evaluate(tmp_path, *extra, nproc=1):
    out = tmp_path / "results.csv"
    args = ["evaluate", "--model", "shapes_cnn", "--images", "shapes", "--num-images", "6", "--methods",
            "gradcam,unioncam", "--steps", "4", "--out", str(out), *extra]
    launcher = [*torchrun(nproc), "-m", "unioncam_lite"] if nproc > 1 else [sys.executable, "-m", "unioncam_lite"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(launcher + args, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(out) as f:
        return list(csv.DictReader(f)), out


def test_torchrun_two_ranks_gather_every_row_once(tmp_path):
    with ports_taken(29500, 29517):  # torchrun's default port and the one this test once fixed
        rows, out = run_evaluate(tmp_path, nproc=2)
    pairs = sorted((r["image"], r["method"]) for r in rows)
    assert pairs == sorted((f"shape{i:04d}", m) for i in range(6) for m in ("gradcam", "unioncam"))
    for r in rows:
        assert 0 <= float(r["drop"]) <= 1 and 0 <= float(r["insertion"]) <= 1 and 0 <= float(r["IoU@0.5"]) <= 1
    table = out.with_suffix(".md").read_text()
    assert "| Grad-CAM |" in table and "| UnionCAM |" in table and out.with_suffix(".png").stat().st_size > 5000
    single, _ = run_evaluate(tmp_path / "single")
    by_key = {(r["image"], r["method"]): r for r in single}
    for r in rows:  # sharding changes nothing but who computes what
        assert float(r["deletion"]) == pytest.approx(float(by_key[r["image"], r["method"]]["deletion"]), abs=1e-5)


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "--images", "no/such/dir", "--num-images", "1"], "not found"),
    (["evaluate", "--methods", "gradcam,magic"], "unknown method"),
    (["evaluate", "--model", "efficientnet_lite0", "--images", "shapes", "--out", "/tmp/unioncam-test/r.csv"],
     "needs --model shapes_cnn"),
])
def test_bad_input(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- data sets on disk, resume

from tiny_datasets import IMAGENET, make_imagenet_flat, make_imagenet_folders, make_voc  # noqa: E402

from unioncam_lite.apps.evaluation import runner as ev  # noqa: E402
from unioncam_lite.data.datasets import Sample, random_subset  # noqa: E402

FAST = ["--model", "efficientnet_lite0", "--methods", "gradcam,layercam", "--steps", "2", "--device", "cpu"]


@pytest.fixture(autouse=True)
def one_thread():
    """As many threads as each torchrun worker (OMP_NUM_THREADS=1): the same float rounding, so
    rows can be compared at 1e-5 (insertion/deletion rank pixels, and near-ties in a map flip
    with the rounding of a different thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def read_rows(out):
    with open(out) as f:
        return list(csv.DictReader(f))


def test_voc2007_end_to_end_with_box_metrics(tmp_path, capsys):
    make_voc(tmp_path / "voc")
    out = tmp_path / "res" / "voc.csv"
    assert main(["evaluate", "--dataset", "voc2007", "--root", str(tmp_path / "voc"), *FAST, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "3/3 [" in err and "img/s]" in err       # tqdm: done/total [elapsed<left, rate]
    rows = read_rows(out)
    assert sorted((r["image"], r["method"]) for r in rows) == sorted(
        (i, m) for i in ("000001", "000004", "000006") for m in ("gradcam", "layercam"))
    by = {(r["image"], r["method"]): r for r in rows}
    # 000004's box is the whole image: all of every map's energy is inside it, and IoU@0.5 is the
    # share of pixels at or above 0.5
    assert float(by["000004", "gradcam"]["energy pointing game"]) == pytest.approx(1.0, abs=1e-6)
    for r in rows:
        assert 0 <= float(r["energy pointing game"]) <= 1 and 0 <= float(r["IoU@0.5"]) <= 1
        assert r["class"] and 0 <= int(r["class_idx"]) < 1000
    assert by["000001", "gradcam"]["label"] == "dog+person"
    md = out.with_suffix(".md").read_text()
    assert "voc2007 (test split)" in md and "resize stretch" in md and "over the 3 of them with a ground truth (boxes or mask)" in md
    assert "| Grad-CAM |" in md and "energy pointing game ↑" in md and "images with ground truth" in md
    assert out.with_suffix(".png").stat().st_size > 5000
    assert json.loads(out.with_suffix(".run.json").read_text())["data"] == "voc2007"
    assert not list(out.parent.glob(".*.tmp"))   # no temporary files left behind


def test_imagenet_subset_resumes_after_an_interruption(tmp_path, monkeypatch, capsys):
    root = make_imagenet_flat(tmp_path / "imagenet")
    out = tmp_path / "imagenet.csv"
    argv = ["evaluate", "--dataset", "imagenet-val", "--root", str(root), "--num-images", "4", "--seed", "3",
            *FAST, "--out", str(out)]
    real, calls, on_disk = ev.evaluate_batch, [], []

    def interrupted(*args, **kwargs):   # Ctrl-C while the third image is in progress
        on_disk.append(len(read_rows(out)))
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ev, "evaluate_batch", interrupted)
    assert main(argv) == 130
    assert on_disk == [0, 2, 4]           # each image's rows were on disk before the next began
    assert "run the same command again to resume" in capsys.readouterr().err
    before = out.read_text()
    with open(out, "a") as f:             # and a cut-off row, as a power cut would leave
        f.write("ILSVRC2012_val_0000000")
    monkeypatch.setattr(ev, "evaluate_batch", real)
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "2 image(s) already in" in err and "2 to do" in err and "dropped a cut-off last line" in err
    assert out.read_text().startswith(before)   # finished rows kept as they were, not recomputed
    rows = read_rows(out)
    drawn = [s.name for s in random_subset([Sample(r[0], None) for r in sorted(IMAGENET)], 4, 3)]
    assert [r["image"] for r in rows[::2]] == drawn and len(rows) == 8
    labels = {r[0]: r[2] for r in IMAGENET}
    from unioncam_lite.models import imagenet_categories

    cats = imagenet_categories()
    assert all(r["label"] == cats[labels[r["image"]]] for r in rows)
    md = out.with_suffix(".md").read_text()
    assert "4 images per method" in md and "over the 4 of them with a ground truth (boxes or mask)" in md
    # other settings with the same --out: refused before any work
    assert main(argv[:-2] + ["--theta", "20", "--out", str(out)]) == 2
    assert "other settings (theta: 10.0 then, 20.0 now)" in capsys.readouterr().err
    # a method more: only its rows are computed
    calls.clear()
    monkeypatch.setattr(ev, "evaluate_batch", lambda *a, **k: calls.append(a[4]) or real(*a, **k))
    argv[argv.index("gradcam,layercam")] = "gradcam,layercam,xgradcam"
    assert main(argv) == 0
    assert calls == [["xgradcam"]] * 4 and len(read_rows(out)) == 12


def test_torchrun_shards_and_resumes_a_data_set(tmp_path, capsys):
    """Two gloo processes finish a run that one process started; rows equal a one-process run."""
    root = make_imagenet_folders(tmp_path / "imagenet", boxes=True, rows=IMAGENET[:3])
    single, sharded = tmp_path / "single.csv", tmp_path / "sharded.csv"
    common = ["evaluate", "--dataset", "imagenet-val", "--root", str(root), *FAST]
    common[common.index("gradcam,layercam")] = "gradcam"
    assert main(common + ["--num-images", "1", "--out", str(sharded)]) == 0   # the started run
    assert main(common + ["--out", str(single)]) == 0
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([*torchrun(2), "-m", "unioncam_lite", *common, "--out", str(sharded)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 image(s) already in" in done.stderr and "2 to do on 2 processes" in done.stderr
    rows, ref = read_rows(sharded), {(r["image"], r["method"]): r for r in read_rows(single)}
    assert sorted((r["image"], r["method"]) for r in rows) == sorted(ref) and len(rows) == 3
    for r in rows:
        for k in ("drop", "insertion", "deletion", "energy pointing game", "IoU@0.5"):
            assert float(r[k]) == pytest.approx(float(ref[r["image"], r["method"]][k]), abs=1e-5)


@pytest.mark.parametrize("make,argv,message", [
    (make_voc, ["--dataset", "voc2007", "--split", "val"], r"split file .*val.txt not found"),
    (lambda r: (make_voc(r) / "Annotations" / "000006.xml").write_text("<annotation><size>"),
     ["--dataset", "voc2007"], r"000006.xml is not valid XML"),
    (lambda r: (make_imagenet_folders(r) / "val" / "n12345678").mkdir(),
     ["--dataset", "imagenet-val"], r"class folder 'n12345678' .* not one of the 1000"),
    (make_voc, ["--dataset", "voc2007", "--num-images", "9"], r"--num-images 9, but the data set has only 3"),
    (make_voc, ["--dataset", "voc2007", "--images", "shapes"], "either --dataset"),
    (make_voc, ["--images", "shapes", "--model", "shapes_cnn"], "--root goes with --dataset"),
])
def test_bad_data_sets_are_one_line_before_any_work(tmp_path, monkeypatch, capsys, make, argv, message):
    make(tmp_path)
    monkeypatch.setattr("unioncam_lite.models.load_model", lambda *a, **k: pytest.fail("model loaded"))
    assert main(["evaluate", "--root", str(tmp_path), *argv, "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.startswith("error: ") and err.count("\n") == 1, err


def test_dataset_needs_root_and_an_imagenet_model(tmp_path, capsys):
    assert main(["evaluate", "--dataset", "voc2007", "--out", str(tmp_path / "r.csv")]) == 2
    assert "--dataset voc2007 needs --root DIR" in capsys.readouterr().err
    make_voc(tmp_path)
    assert main(["evaluate", "--dataset", "voc2007", "--root", str(tmp_path), "--model", "shapes_cnn",
                 "--out", str(tmp_path / "r.csv")]) == 2
    assert "ImageNet classifier (1000 classes); shapes_cnn has 5" in capsys.readouterr().err


# --------------------------------------------------------------------------- issue 9: outputs and arguments

@pytest.mark.parametrize("n", ["0", "-1", "two"])
@pytest.mark.parametrize("images", ["shapes", str(IMAGE_DIR)])
def test_num_images_must_be_positive(n, images, capsys):
    assert main(["evaluate", "--model", "shapes_cnn", "--images", images, "--num-images", n]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument --num-images:") and err.count("\n") == 1 and "usage" not in err


def test_a_method_named_twice_is_run_once(tmp_path):
    out = tmp_path / "r.csv"
    assert main(["evaluate", "--model", "shapes_cnn", "--images", "shapes", "--num-images", "2", "--methods",
                 "gradcam,gradcam, gradcam", "--steps", "2", "--out", str(out)]) == 0
    assert [(r["image"], r["method"]) for r in read_rows(out)] == [("shape0000", "gradcam"), ("shape0001", "gradcam")]


def bad_outs(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "clash.md").mkdir()
    return [(a_file / "r.csv", "is a file, not a folder"), (tmp_path / "folder.csv", "is a folder"),
            (tmp_path / "clash.csv", "clash.md' is a folder"), (a_file, "not a results file of this command")]


def test_bad_out_fails_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("unioncam_lite.models.load_model", lambda *a, **k: pytest.fail("model loaded"))
    for out, message in bad_outs(tmp_path):
        assert main(["evaluate", "--model", "shapes_cnn", "--images", "shapes", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out_folder(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["evaluate", "--model", "shapes_cnn", "--images", "shapes", "--out", str(locked / "r.csv")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_io_error_while_writing_is_one_line(tmp_path, monkeypatch, capsys):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "r.png"))

    monkeypatch.setattr("unioncam_lite.outputs.save_figure_atomic", full)
    assert main(["evaluate", "--model", "shapes_cnn", "--images", "shapes", "--num-images", "1", "--methods",
                 "gradcam", "--steps", "1", "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err   # (after the progress lines)
    assert err.splitlines()[-1].startswith("error: No space left on device: ") and "Traceback" not in err
    assert len(read_rows(tmp_path / "r.csv")) == 1     # the computed row is kept


@pytest.mark.parametrize("name,side", [("results.png", "bar chart (.png)"), ("results.md", "summary table (.md)"),
                                       ("results.MD", "summary table (.md)")])
def test_out_named_like_a_side_file_is_refused_before_any_work(tmp_path, monkeypatch, capsys, name, side):
    """``--out results.png`` named the bar chart ``results.png`` too: the figure overwrote the results CSV."""
    monkeypatch.setattr("unioncam_lite.models.load_model", lambda *a, **k: pytest.fail("model loaded"))
    out = tmp_path / name
    assert main(["evaluate", "--model", "shapes_cnn", "--images", "shapes", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {str(out)!r} would be overwritten by the {side}") and err.count("\n") == 1
    assert str(tmp_path / "results.csv") in err and not list(tmp_path.iterdir())


def test_library_run_names_its_own_arguments(tmp_path):
    """The runner (no command line) speaks of ``out``, ``n`` and ``dataset``, not of flags."""
    from unioncam_lite.apps.evaluation import EvaluateConfig, run

    with pytest.raises(ValueError, match=r"^out '.*r.png' would be overwritten by the bar chart"):
        run(EvaluateConfig(out=tmp_path / "r.png"))
    with pytest.raises(ValueError, match=r"^dataset=voc2007 needs root=DIR"):
        run(EvaluateConfig(out=tmp_path / "r.csv", dataset="voc2007"))
    make_voc(tmp_path / "voc")
    with pytest.raises(ValueError, match=r"^n=9, but the data set has only 3 images: use n=3 or fewer"):
        run(EvaluateConfig(out=tmp_path / "r.csv", dataset="voc2007", root=str(tmp_path / "voc"), n=9))
