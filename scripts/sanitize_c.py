#!/usr/bin/env python3
"""Builds every C extension with AddressSanitizer and UndefinedBehaviorSanitizer and runs its tests against it.

    .venv/bin/python scripts/sanitize_c.py            # exit status 0: no sanitizer report, every test passed
    .venv/bin/python scripts/sanitize_c.py --keep     # keep the build directory (its path is printed)

The extensions are the ``ext-modules`` of pyproject.toml, whatever they are today. Each is compiled with its own
``extra-compile-args`` followed by ``-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all
-fno-omit-frame-pointer`` into a temporary directory. Then one pytest process runs, for each extension, the test
files that mirror its source (``sdk/instrumentation/_fastrecord.c`` -> ``tests/sdk/instrumentation/test_fastrecord*.py``; every extension
must have at least one: its differential test against the Python reference), with:

- the sanitized builds loaded in place of the installed ones before any test imports them (a pytest plugin
  written next to them; it fails the run if a test ends up with another build);
- ``LD_PRELOAD`` of gcc's libasan (the interpreter is not built with ASan, so its runtime must come first);
- ``PYTHONMALLOC=malloc``, so Python objects (a ``bytes`` body, a ``list``) are malloc'd blocks whose bounds ASan
  knows, instead of pieces of pymalloc's arenas where an overrun reads a neighbour unnoticed;
- ``ASAN_OPTIONS=detect_leaks=0:halt_on_error=1`` (CPython keeps objects alive until exit on purpose, so leak
  reports would be noise) and ``UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1``.

Before that it proves the set-up catches what it is for: a canary extension that reads one byte past a ``bytes``
object, and one that overflows a signed int, must each kill their process with the sanitizer's report. Without
that check a wrong flag or a missing runtime would make every run pass.

Fuzzing: ``tests/collector/test_fastotlp_fuzz.py`` (random and mutated protobuf bodies through the OTLP walker) is
one of the collector walker's mirrored test files, so it runs here against the sanitized walker too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
SANITIZE = [
    "-O1",
    "-g",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
]
ENV = {
    "PYTHONMALLOC": "malloc",
    "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=86",
    "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1:exitcode=87",
    "PYTHONDONTWRITEBYTECODE": "1",
}
PLUGIN = '''\
"""Loads the sanitized builds of the C extensions before any test imports them (scripts/sanitize_c.py)."""
import importlib
import importlib.util
import json
import os
import sys

BUILT = json.loads(os.environ["STREAMSCOPE_SANITIZED"])
for name, path in BUILT.items():
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
for name in BUILT:
    parent, _, child = name.rpartition(".")
    setattr(importlib.import_module(parent), child, sys.modules[name])


def pytest_collection_finish(session):
    for name, path in BUILT.items():
        module = sys.modules.get(name)
        if getattr(module, "__file__", None) != path:
            raise RuntimeError(f"{name} is not the sanitized build: {getattr(module, '__file__', None)}")
    print(f"sanitized builds in use: {', '.join(sorted(BUILT))}")
'''
CANARIES = {
    "heap-buffer-overflow": r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *poke(PyObject *m, PyObject *b) {  /* reads one byte past the bytes object */
    const char *p = PyBytes_AS_STRING(b);
    volatile char c = p[PyBytes_GET_SIZE(b) + 1];
    return PyLong_FromLong(c);
}
""",
    "runtime error": r"""
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static PyObject *poke(PyObject *m, PyObject *b) {  /* signed overflow */
    volatile int big = (int)PyBytes_GET_SIZE(b) + 2147483640;
    return PyLong_FromLong(big + 100);
}
""",
}
CANARY_MODULE = r"""
static PyMethodDef methods[] = {{"poke", poke, METH_O, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "%s", "", -1, methods};
PyMODINIT_FUNC PyInit_%s(void) { return PyModule_Create(&module); }
"""


def extensions(root: Path = ROOT) -> list[dict[str, Any]]:
    """The ``ext-modules`` table of pyproject.toml."""
    with open(root / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)
    exts: list[dict[str, Any]] = project["tool"]["setuptools"].get("ext-modules", [])
    return exts


def mirrored_tests(ext: dict[str, Any], root: Path = ROOT) -> list[Path]:
    """The test files that mirror an extension's first source: ``a/b/_name.c`` -> ``tests/a/b/test_name*.py``."""
    source = Path(ext["sources"][0])
    stem = source.stem.lstrip("_")
    return sorted((root / "tests" / source.parent).glob(f"test_{stem}*.py"))


def runtime(name: str) -> str:
    """The path of one of gcc's sanitizer runtimes (libasan.so, libubsan.so), or a SystemExit saying it lacks."""
    found = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(found) or not os.path.exists(found):
        raise SystemExit(f"gcc has no {name}: install libasan8 and libubsan1 (scripts/system-deps.sh)")
    return os.path.realpath(found)


def compile_ext(sources: list[Path], target: Path, extra: list[str]) -> None:
    include = sysconfig.get_paths()["include"]
    cmd = [
        "gcc",
        "-shared",
        "-fPIC",
        f"-I{include}",
        *extra,
        *SANITIZE,
        *map(str, sources),
        "-o",
        str(target),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"building {target.name} failed:\n{' '.join(cmd)}\n{result.stdout}{result.stderr}")


def sanitizer_env(built: dict[str, str], pythonpath: Path) -> dict[str, str]:
    env = dict(os.environ, **ENV)
    env["LD_PRELOAD"] = runtime("libasan.so")
    env["STREAMSCOPE_SANITIZED"] = json.dumps(built)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(pythonpath), env.get("PYTHONPATH", "")) if p)
    return env


def check_canaries(tmp: Path) -> None:
    """Each canary must die with its sanitizer's report: otherwise the sanitized runs below prove nothing."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for i, (expected, body) in enumerate(CANARIES.items()):
        name = f"_canary{i}"
        source = tmp / f"{name}.c"
        source.write_text(body + CANARY_MODULE.replace("%s", name))
        compile_ext([source], tmp / f"{name}{suffix}", [])
        result = subprocess.run(
            [sys.executable, "-c", f"import {name}; {name}.poke(b'x' * 40); print('survived')"],
            cwd=tmp,
            env=sanitizer_env({}, tmp),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode == 0 or expected not in result.stderr:
            raise SystemExit(
                f"the sanitizers did not catch the {expected} canary (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr[-3000:]}"
            )
        print(f"canary caught: {expected} (exit {result.returncode})")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the build directory")
    parser.add_argument("pytest_args", nargs="*", help="more arguments for pytest")
    args = parser.parse_args()
    if shutil.which("gcc") is None:
        print("no gcc: install it (scripts/system-deps.sh)", file=sys.stderr)
        return 1
    runtime("libubsan.so")
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="streamscope-sanitize-"))
    try:
        check_canaries(tmp)
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        built: dict[str, str] = {}
        tests: list[Path] = []
        for ext in extensions():
            name = ext["name"]
            target = tmp / "built" / f"{name}{suffix}"
            target.parent.mkdir(exist_ok=True)
            compile_ext([ROOT / s for s in ext["sources"]], target, list(ext.get("extra-compile-args", [])))
            built[name] = str(target)
            mirrored = mirrored_tests(ext)
            if not mirrored:
                print(
                    f"{name}: no test file mirrors {ext['sources'][0]} (every C extension needs its "
                    f"differential test)",
                    file=sys.stderr,
                )
                return 1
            tests.extend(mirrored)
            print(
                f"built {name} with {' '.join(SANITIZE[2:])}; tests: "
                f"{', '.join(str(t.relative_to(ROOT)) for t in mirrored)}"
            )
        (tmp / "streamscope_sanitized.py").write_text(PLUGIN)
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            # sys-level capture only: a sanitizer writes its report to fd 2 and ends the process at once, before
            # pytest could show output it had captured at the fd level
            "--capture=sys",
            "-p",
            "streamscope_sanitized",
            *map(str, tests),
            *args.pytest_args,
        ]
        result = subprocess.run(cmd, cwd=ROOT, env=sanitizer_env(built, tmp))
        took = time.monotonic() - started
        if result.returncode != 0:
            print(
                f"sanitized run FAILED (exit {result.returncode}, {took:.0f} s): a sanitizer report or a failing "
                f"test above",
                file=sys.stderr,
            )
            return 1
        print(f"sanitized run passed: {len(built)} extensions, {len(tests)} test files, {took:.0f} s")
        return 0
    finally:
        if args.keep:
            print(f"build directory kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
