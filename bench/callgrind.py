"""Counting a process's instructions with valgrind's callgrind, between two points of a run: the
same count on every run of the same code, whatever else the machine is doing (wall-clock CPU
time on this shared machine moves by a third between runs). Used by script_cost.py (Redis) and
app_cost.py (the gateway's own process)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def command(dumps: Path) -> list[str]:
    """The prefix that runs a program under callgrind, counting nothing until ``start``."""
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={dumps}/callgrind.%p"]


class Instructions:
    """The instructions process ``pid`` (run with ``command(dumps)``) runs between ``start`` and
    ``stop``, all its threads."""

    def __init__(self, pid: int, dumps: Path) -> None:
        self.pid = pid
        self.dumps = dumps

    def _control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.pid)], check=True, capture_output=True)

    def start(self) -> None:
        self._control("-i", "on")
        self._control("-z")

    def stop(self) -> int:
        before = set(self.dumps.glob("callgrind.*"))
        self._control("-d")
        self._control("-i", "off")
        return sum(int(line.split()[1]) for dump in set(self.dumps.glob("callgrind.*")) - before
                   for line in dump.read_text().splitlines() if line.startswith("totals:"))
