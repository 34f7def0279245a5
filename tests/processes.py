"""Real server processes, started the way an operator starts them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import timeout


@dataclass
class ServerProcess:
    process: asyncio.subprocess.Process
    http_url: str
    ws_url: str
    log_path: Path

    async def stop(self) -> int:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(timeout(15)):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode

    def kill(self) -> None:
        self.process.kill()


async def start_process(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> ServerProcess:
    """Start ``livecommerce serve`` and return once it prints that it listens."""
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    ready = data_dir / "ready.json"
    log_path = data_dir / "server.log"
    with open(log_path, "wb") as log_file:  # noqa: ASYNC230 - a local file, opened once
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "livecommerce", "serve",
            "--host", "127.0.0.1", "--port", "0", "--ws-port", "0",
            "--data-dir", str(data_dir), "--ready-file", str(ready),
            "--log-format", "text", "--log-level", "warning", "--allow-private-webhooks",
            "--limit-signup", "0", "--limit-signin", "0", "--limit-signin-account", "0",
            "--limit-guest-join", "0", "--limit-watch", "0",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            # No load shedding: a lagging test machine must not turn the story's joins away.
            env={**os.environ, "LIVECOMMERCE_SHEDDING": "false", **(env or {})},
        )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(timeout(30)):
            while b"metrics:" not in (line := await process.stdout.readline()):
                if not line:
                    raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
    except BaseException:
        process.kill()
        await process.wait()
        raise
    info = json.loads(ready.read_text())
    return ServerProcess(process, info["http_url"], info["ws_url"], log_path)
