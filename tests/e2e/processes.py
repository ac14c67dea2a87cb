"""Real bridge processes for end-to-end tests: the CLI, `bridge run`, gunicorn,
Celery workers and beat, each a subprocess with its own log file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    found = BIN / name
    return str(found) if found.exists() else (shutil.which(name) or name)


class Processes:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, {**os.environ, **env}
        self.running: list[tuple[str, subprocess.Popen, Path]] = []

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([tool("bridge"), *args], cwd=self.workdir, env=self.env,
                                capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"bridge {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def cli_json(self, *args: str):
        return json.loads(self.cli(*args, "--json").stdout)

    def start(self, name: str, *argv: str) -> subprocess.Popen:
        log = self.workdir / f"{name}.log"
        handle = log.open("wb")
        process = subprocess.Popen(list(argv), cwd=self.workdir, env=self.env, stdout=handle,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append((name, process, log))
        return process

    def stop(self, name: str) -> None:
        for entry in list(self.running):
            if entry[0] == name:
                _, process, _ = entry
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
                self.running.remove(entry)

    def wait_http(self, url: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            self._check_alive()
            time.sleep(0.2)
        raise AssertionError(f"{url} did not answer in {timeout}s\n{self.logs()}")

    def _check_alive(self) -> None:
        for name, process, _ in self.running:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}\n{self.logs()}")

    def logs(self, tail: int = 40) -> str:
        parts = []
        for name, _, log in self.running:
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            parts.append(f"--- {name} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop_all(self) -> None:
        for _, process, _ in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def wait_until(predicate, timeout: float = 20, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
