"""The load run of docs/security.md: authenticated API traffic for a fixed time while
administrators change the same tokens, against a live server on loopback.

- ``wrk`` (Debian's) holds steady traffic on always-Active tokens, counting every status in
  its Lua script (tokens reach it through the environment, never argv);
- probe threads keep calling the API with the tokens that administrators disable and enable,
  recording when each request was sent and answered;
- two administrators (one through the API, one through the admin pages) disable, enable and
  edit those tokens.

The invariant: a request sent after a disable was acknowledged and answered before the next
enable was sent ran entirely while the token was Disabled, so it must have been refused.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.live import LiveServer
from tests.security.web import Administrator, Timed, http_client, timed_get

API = "/public/v1/accounts/api-tokens"
WRK_SCRIPT = """
local tokens = {}
for t in string.gmatch(os.getenv("LOAD_TOKENS") or "", "[^,]+") do table.insert(tokens, t) end
local path = os.getenv("LOAD_PATH")
local i = 0
counts = {}
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[i]})
end
response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      merged[tostring(status)] = (merged[tostring(status)] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do table.insert(parts, string.format('"%s": %d', status, n)) end
  io.write(string.format(
    'WRK-RESULT {"requests": %d, "errors": %d, "p50_ms": %.2f, "p99_ms": %.2f, "statuses": {%s}}\\n',
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    table.concat(parts, ", ")))
end
"""


@dataclass
class Interval:
    """A token known to be Disabled from ``start`` (disable acknowledged) to ``end`` (the
    enable request sent)."""

    token_id: str
    start: float
    end: float


@dataclass
class LoadResult:
    seconds: float
    wrk: dict[str, Any]
    probes: list[tuple[str, Timed]] = field(default_factory=list)
    intervals: list[Interval] = field(default_factory=list)
    admin_actions: int = 0
    admin_statuses: dict[str, int] = field(default_factory=dict)

    def checked_and_violations(self) -> tuple[int, list[str]]:
        checked = 0
        violations: list[str] = []
        by_token: dict[str, list[Interval]] = {}
        for interval in self.intervals:
            by_token.setdefault(interval.token_id, []).append(interval)
        for token_id, probe in self.probes:
            for interval in by_token.get(token_id, []):
                if probe.sent > interval.start and probe.received < interval.end:
                    checked += 1
                    if probe.status != 401:
                        violations.append(f"{token_id} answered {probe.status} while Disabled")
                    break
        return checked, violations

    def summary(self) -> dict[str, Any]:
        checked, violations = self.checked_and_violations()
        statuses: dict[str, int] = {}
        for _, probe in self.probes:
            statuses[str(probe.status)] = statuses.get(str(probe.status), 0) + 1
        return {
            "seconds": self.seconds,
            "wrk": self.wrk,
            "wrk_requests_per_second": round(self.wrk["requests"] / self.seconds, 1),
            "probe_requests": len(self.probes),
            "probe_statuses": statuses,
            "disabled_intervals": len(self.intervals),
            "requests_checked_while_disabled": checked,
            "accepted_while_disabled": len(violations),
            "admin_actions": self.admin_actions,
            "admin_statuses": self.admin_statuses,
        }


def run_load(
    server: LiveServer,
    *,
    seconds: float,
    steady: list[str],
    victims: dict[str, str],
    robot: str,
    admin_email: str,
    admin_password: str,
    workdir: Path,
    connections: int = 8,
) -> LoadResult:
    """``steady``: values of tokens that stay Active; ``victims``: token id -> value of the
    tokens administrators toggle; ``robot``: an administrator API token's value."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    deadline = time.monotonic() + seconds
    result = LoadResult(seconds=seconds, wrk={})
    lock = threading.Lock()
    token_locks = {token_id: threading.Lock() for token_id in victims}
    script = workdir / "load.lua"
    script.write_text(WRK_SCRIPT)
    env = {**os.environ, "LOAD_TOKENS": ",".join(steady), "LOAD_PATH": API}
    process = subprocess.Popen(
        [
            wrk,
            "-t1",
            f"-c{connections}",
            f"-d{int(seconds)}s",
            "-s",
            str(script),
            f"{server.url}{API}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def probe() -> None:
        client = http_client(server)
        ids = list(victims)
        while time.monotonic() < deadline:
            token_id = random.choice(ids)
            answered = timed_get(client, f"{API}/{token_id}", victims[token_id])
            with lock:
                result.probes.append((token_id, answered))
        client.close()

    def count(status: str) -> None:
        with lock:
            result.admin_actions += 1
            result.admin_statuses[status] = result.admin_statuses.get(status, 0) + 1

    def administrator(through_pages: bool) -> None:
        rng = random.Random(7 if through_pages else 11)
        browser = Administrator(server, admin_email, admin_password) if through_pages else None
        api = http_client(server)
        headers = {"Authorization": f"Bearer {robot}"}

        def change(token_id: str, verb: str) -> httpx.Response:
            if browser is not None:
                return browser.post(f"/settings/api-tokens/{token_id}/{verb}/", {"origin": "list"})
            return api.post(f"{API}/{token_id}/{verb}", json={}, headers=headers)

        while time.monotonic() < deadline - 1:
            token_id = rng.choice(list(victims))
            # Concurrent edits, unserialised: they fight the status changes for the row lock.
            if browser is not None:
                edit = browser.post(
                    f"/settings/api-tokens/{token_id}/edit/",
                    {"step": "general", "name": "Load victim", "description": f"{time.time()}"},
                )
            else:
                edit = api.put(
                    f"{API}/{token_id}", json={"description": f"{time.time()}"}, headers=headers
                )
            count(f"edit {edit.status_code}")
            with token_locks[token_id]:
                disabled = change(token_id, "disable")
                count(f"disable {disabled.status_code}")
                if disabled.status_code != 200:
                    continue
                start = time.monotonic()
                time.sleep(rng.uniform(0.2, 0.8))
                end = time.monotonic()
                enabled = change(token_id, "enable")
                count(f"enable {enabled.status_code}")
            with lock:
                result.intervals.append(Interval(token_id=token_id, start=start, end=end))
            time.sleep(rng.uniform(0.05, 0.3))
        api.close()
        if browser is not None:
            browser.close()

    threads = [threading.Thread(target=probe) for _ in range(4)]
    threads += [threading.Thread(target=administrator, args=(flag,)) for flag in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    output, _ = process.communicate(timeout=seconds + 60)
    script.unlink(missing_ok=True)
    line = next((x for x in output.splitlines() if x.startswith("WRK-RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output[-2000:]}")
    result.wrk = json.loads(line.removeprefix("WRK-RESULT "))
    return result
