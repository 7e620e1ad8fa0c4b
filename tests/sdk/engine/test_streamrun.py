"""The model run's sync stream loop is generated from the async one (scripts/unasync.py): the checked-in file is
what the script generates today, and the script's renames give the sync names."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", ROOT / "scripts" / "unasync.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sync_loop_is_what_unasync_generates_from_the_async_one() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "unasync.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_unasync_renames_the_colour_and_nothing_else() -> None:
    source = (
        "async def arun_stream(rm):\n"
        "    async for x in rm._astream():\n"
        "        await rm.aon_llm_new_token(x)\n"
        "    await rm.aon_llm_end(x)  # not renamed: aon_llm_endless, my_aon_llm_end\n"
    )
    out = _script().unasync(source, "a.py")
    assert out.splitlines()[1:] == [
        "def run_stream(rm):",
        "    for x in rm._stream():",
        "        rm.on_llm_new_token(x)",
        "    rm.on_llm_end(x)  # not renamed: aon_llm_endless, my_aon_llm_end",
    ]


def test_check_fails_on_a_stale_generated_file(tmp_path: Path) -> None:
    script = _script()
    source, target = script.PAIRS[0]
    (tmp_path / Path(source).parent).mkdir(parents=True)
    (tmp_path / source).write_text((ROOT / source).read_text())
    (tmp_path / target).write_text((ROOT / target).read_text() + "\n# edited by hand\n")
    script.ROOT = tmp_path
    assert script.main(["--check"]) == 1
    assert script.main([]) == 0
    assert script.main(["--check"]) == 0
    assert (tmp_path / target).read_text() == (ROOT / target).read_text()
