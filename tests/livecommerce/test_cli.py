"""An operator starts the server with one command; data outlives the process."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import timeout
from tests.helpers import join
from tests.processes import start_process

pytestmark = pytest.mark.multiprocess


async def test_serve_runs_an_embedded_valkey_that_keeps_its_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = await start_process(data)
    async with httpx.AsyncClient(base_url=first.http_url) as http:
        assert (await http.get("/readyz")).status_code == 200
        created = await http.post(
            "/api/v1/accounts", json={"username": "keeper", "password": "persist me please"}
        )
        assert created.status_code == 201
    assert await first.stop() == 0
    assert (data / "valkey" / "appendonly").is_dir()  # append-only persistence is on
    assert (data / "secret").read_text().strip()

    second = await start_process(data)
    async with httpx.AsyncClient(base_url=second.http_url) as http:
        session = await http.post(
            "/api/v1/sessions", json={"username": "keeper", "password": "persist me please"}
        )
        assert session.status_code == 200
    assert await second.stop() == 0


# A busy test machine's lag would let the demo turn the story's own first join away
# (load shedding is tested on its own, tests/livecommerce/realtime/test_shedding.py).
NO_SHEDDING = {**os.environ, "LIVECOMMERCE_SHEDDING": "false"}


async def test_demo_prints_a_sign_in_link_for_every_role(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livecommerce", "demo", "--port", "0", "--data-dir", str(tmp_path),
        "--log-level", "warning",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=NO_SHEDDING,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        await _demo_story(process)
    finally:  # a failed story leaves no demo running (and holding its ports) behind
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _demo_story(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(timeout(60)):
        while not any("guest:" in line for line in lines):
            line = (await process.stdout.readline()).decode()
            assert line, "demo exited early"
            lines.append(line)
    text = "".join(lines)
    for role in ("creator:", "moderator:", "viewer:"):
        assert role in text
    assert "test card" in text
    console = next(line.split()[-1] for line in lines if "moderator:" in line)
    assert "/console#token=" in console, "the moderator's link opens the moderator console"
    link = next(line.split()[-1] for line in lines if "viewer:" in line)
    token = link.split("#token=")[1]
    base = link.split("/rooms/")[0]
    async with httpx.AsyncClient(base_url=base) as http:
        me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["name"].startswith("Vi")
        live = (await http.get("/api/v1/rooms", params={"state": "live"})).json()["rooms"]
        assert len(live) == 1
        ws_url = (await http.get("/api/v1/config")).json()["ws_url"]
    guest = await join(ws_url, live[0]["id"])
    welcome = guest.seen[0]
    assert welcome["pinned"]["title"] == "Chunky wool jumper"
    assert [s["units"] for s in welcome["sales"]] == [5]
    if welcome["room"]["stream"] != "live":  # the test card is on its way
        assert (await guest.expect("stream.state", wait=15))["state"] == "live"
    await guest.close()
    process.terminate()
    assert await process.wait() == 0


async def test_the_demo_prints_its_links_again_once_the_test_card_is_on(
    tmp_path: Path,
) -> None:
    """At the default log level the media libraries' chatter stays out, and the links come
    back below the start-up logs, where a newcomer's terminal shows them."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "livecommerce", "demo", "--port", "0", "--data-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=NO_SHEDDING,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(timeout(60)):
            while sum("guest:" in line for line in lines) < 2:
                line = (await process.stdout.readline()).decode()
                assert line, "demo exited early:\n" + "".join(lines)
                lines.append(line)
    finally:
        process.terminate()
        await process.wait()
    logs = [orjson.loads(line) for line in lines if line.startswith("{")]
    assert not [e for e in logs if e["logger"].startswith(("aioice", "aiortc"))], logs
    ready = next(i for i, line in enumerate(lines) if "demo is ready" in line)
    camera_live = next(i for i, line in enumerate(lines) if "demo camera is live" in line)
    assert camera_live < ready
    again = "".join(lines[ready:])
    for role in ("creator:", "moderator:", "viewer:", "guest:"):
        assert role in again
    assert all(not line.startswith("{") for line in lines[ready:])


async def test_a_killed_server_takes_its_embedded_valkey_with_it(tmp_path: Path) -> None:
    server = await start_process(tmp_path / "data")
    valkey_pid = int(_child_pids(server.process.pid)[0])
    server.kill()
    await server.process.wait()
    async with asyncio.timeout(timeout(10)):
        # The kernel delivers SIGTERM; Valkey exits on its own. Nothing to wait on but /proc.
        while _state(valkey_pid) not in ("Z", "gone"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def _child_pids(pid: int) -> list[str]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[1] == str(pid):
            children.append(stat.parent.name)
    return children


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except FileNotFoundError:
        return "gone"
