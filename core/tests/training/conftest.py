"""Fixtures of the training tests: the tiny task module and a subprocess runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the tiny task module, shared with the subprocess script
    sys.path.insert(0, str(HERE))

SCRIPT = HERE / "train_script.py"


def script_env() -> dict[str, str]:
    env = dict(
        os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    )
    return env


def script_cmd(args: dict, *, torchrun: int = 0) -> list[str]:
    launcher = [sys.executable]
    if torchrun:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(torchrun)]
    return [*launcher, str(SCRIPT), json.dumps(args)]


def run_script(args: dict, *, torchrun: int = 0, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        script_cmd(args, torchrun=torchrun), env=script_env(), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def kill_when_ready(args: dict) -> None:
    """Start the script with ``args`` (which name a ``kill_at`` loss call), wait until it
    prints READY there and SIGKILL it mid-step."""
    import signal

    victim = subprocess.Popen(script_cmd(args), env=script_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = victim.stdout.readline()
        assert line.strip() == "READY", line + victim.stderr.read()
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        victim.kill()
        victim.communicate()


@pytest.fixture
def script():
    """``script.cmd(args, torchrun=n)``, ``script.env()``, ``script.run(args, torchrun=n)``,
    ``script.kill(args)`` (:func:`kill_when_ready`)."""

    class Script:
        cmd, env, run = staticmethod(script_cmd), staticmethod(script_env), staticmethod(run_script)
        kill = staticmethod(kill_when_ready)

    return Script


@pytest.fixture
def task():
    import sidkit_training_task

    return sidkit_training_task
