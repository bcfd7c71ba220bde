"""The README's tour is executable: every command in it runs and prints what it promises."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def tour_commands() -> list[str]:
    """The tour's commands, and every other README command that analyzes a shipped example."""
    block = README.split("## A 60-second tour", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith(("#", ". "))]
    rest = README.split("## A 60-second tour", 1)[1].split("```", 2)[2]
    for later in re.findall(r"```sh\n(.*?)```", rest, re.S):
        joined = later.replace("\\\n", " ")
        commands += [line for line in joined.splitlines() if line.startswith("brandscan analyze examples/")]
    return commands


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    assert [line.split("#")[0].strip() for line in first_block.group(1).splitlines()] == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("command", tour_commands())
def test_tour_command_runs(tmp_path: Path, command: str) -> None:
    if "| jq" in command and shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("BRANDSCAN_CATALOG", None)
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    # `head` may close the pipe early: that is the reader's choice, not a failure.
    assert done.returncode == 0 or ("| head" in command and done.returncode == 141), done.stderr
    assert done.stdout.strip(), f"no output from: {command}"
    assert "Traceback" not in done.stderr
