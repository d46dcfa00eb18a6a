"""README's set-up command on a Python that refuses system-wide installs (issue #17).

A stock Debian/Ubuntu ``python3`` is "externally managed" (PEP 668): it ships a file
``EXTERNALLY-MANAGED`` in its standard library directory
(``sysconfig.get_path("stdlib")``), and pip refuses to install into it unless it runs
inside a virtual environment. The test makes such a Python without touching the
machine's own: a throwaway prefix with a copy of the interpreter's binary, the
standard library linked entry by entry, an ``EXTERNALLY-MANAGED`` marker beside it
(the file Debian's ``python3.11`` package installs), and a site-packages whose entries
link to the test environment's installed packages (fanout's own left out). It first
checks that this Python really refuses ``pip install`` with PEP 668's error, then puts
it first on PATH as ``python3`` and runs ``scripts/run --help`` with ``FANOUT_VENV`` in
a fresh temporary directory: the script must make the virtual environment, install
fanout into it and run ``fanout serve --help`` from it.

Bounded: a full dependency install would download every dependency (aiohttp, lupa,
uvloop ...) from PyPI, a minute or more. So the test sets ``FANOUT_VENV_SYSTEM_SITE=1``,
which scripts/venv turns into ``python3 -m venv --system-site-packages``: the new
environment sees the dependencies through the simulated Python's site-packages, and
pip resolves fanout's requirements against them (nothing to download) and installs
fanout itself, editable, into the new environment. pip still builds fanout in an
isolated build environment, which fetches setuptools from PyPI or pip's cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The scripts' whole run: venv creation (ensurepip, offline), pip's isolated build,
# `fanout serve --help`; ~10 s on an idle machine.
TIMEOUT = 240


def externally_managed_python(prefix: Path) -> Path:
    """A Python under ``prefix`` that is not a virtual environment and carries the
    PEP 668 marker; returns its bin directory (with ``python3`` in it)."""
    base = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    stdlib = Path(sysconfig.get_path("stdlib"))  # the base's, also inside a venv
    bin_dir, lib = prefix / "bin", prefix / "lib" / version
    bin_dir.mkdir(parents=True)
    lib.mkdir(parents=True)
    # A copy, not a link: the interpreter finds its prefix by searching up from its
    # own real location for lib/pythonX.Y/os.py.
    shutil.copy2(base, bin_dir / "python3")
    for entry in stdlib.iterdir():
        if entry.name not in ("site-packages", "dist-packages", "EXTERNALLY-MANAGED"):
            (lib / entry.name).symlink_to(entry)
    (lib / "EXTERNALLY-MANAGED").write_text(
        "[externally-managed]\nError=This Python is managed by the system (a test's copy of Debian's rule): "
        "use a virtual environment.\n")
    site = lib / "site-packages"
    site.mkdir()
    for entry in Path(sysconfig.get_path("purelib")).iterdir():  # the test venv's packages
        if "fanout" not in entry.name and entry.name != "__pycache__":
            (site / entry.name).symlink_to(entry)
    return bin_dir


def clean_env(bin_dir: Path, venv: Path) -> dict[str, str]:
    """The environment of a fresh shell whose ``python3`` is ``bin_dir``'s: no active
    virtual environment, no PYTHONPATH (fanout must come from the new venv)."""
    active = os.environ.get("VIRTUAL_ENV")
    path = [part for part in os.environ.get("PATH", "").split(os.pathsep)
            if part and not (active and part.startswith(active))]
    env = {name: value for name, value in os.environ.items()
           if name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME") and not name.startswith("PIP_")}
    env.update(PATH=os.pathsep.join([str(bin_dir), *path]), FANOUT_VENV=str(venv), FANOUT_VENV_SYSTEM_SITE="1",
               PYTHONNOUSERSITE="1")
    return env


def test_scripts_run_makes_a_venv_on_an_externally_managed_python(tmp_path: Path):
    bin_dir = externally_managed_python(tmp_path / "python")
    venv = tmp_path / "venv"
    env = clean_env(bin_dir, venv)

    # The simulated Python is not a venv, and its pip refuses as Debian's does.
    assert subprocess.run([bin_dir / "python3", "-c", "import sys; assert sys.prefix == sys.base_prefix"],
                          env=env).returncode == 0
    refused = subprocess.run([bin_dir / "python3", "-m", "pip", "install", "--no-index", "--no-deps", str(REPO)],
                             env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, refused.stderr

    run = subprocess.run([REPO / "scripts" / "run", "--help"], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[:2] == [f"scripts: making the virtual environment {venv} (--system-site-packages)",
                         f"scripts: installing fanout into {venv}"], run.stdout
    assert lines[2].startswith("usage: fanout serve "), run.stdout
    assert "--http-port" in run.stdout and "FANOUT_HTTP_PORT" in run.stdout

    # The venv was made from the externally managed Python, and fanout went into it.
    config = (venv / "pyvenv.cfg").read_text()
    assert f"home = {bin_dir}" in config and "include-system-site-packages = true" in config
    assert (venv / "bin" / "fanout").is_file()
    where = subprocess.run([venv / "bin" / "python", "-c", "import gateway; print(gateway.__file__)"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(REPO / "gateway" / "__init__.py"), where.stdout + where.stderr
    installed = list((venv / "lib").glob("python*/site-packages/fanout-*.dist-info"))
    assert len(installed) == 1
    assert not list((bin_dir.parent / "lib").glob("python*/site-packages/fanout*"))  # nothing system-wide

    # Again: the environment is there and fanout installed, so neither is redone.
    again = subprocess.run([REPO / "scripts" / "run", "--help"], env=env, capture_output=True, text=True,
                           timeout=TIMEOUT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[0] == f"scripts: fanout is installed in {venv}"
    assert again.stdout.splitlines()[1].startswith("usage: fanout serve ")
