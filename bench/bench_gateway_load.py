"""Load tools for bench_gateway.py: a raw HTTP/1.1 keep-alive client and a 20 ms-think upstream.

Both are bare asyncio streams, so the measuring side costs far less CPU than the gateway it measures
(an httpx client would spend as much per request as the proxy under test).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

__all__ = ["cpu_seconds", "http_load", "percentile", "rss_mb", "serve_bare_proxy", "serve_upstream"]

_ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "gpt-4-0613",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content":
                "The customer was charged twice for the premium plan after downgrading. Next step: refund the "
                "duplicate October charge and confirm the downgrade before the next billing cycle."}}],
    "usage": {"prompt_tokens": 180, "completion_tokens": 40, "total_tokens": 220},
}).encode()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process: CPU it used, whatever else competes for the cores."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One HTTP/1.1 request or response (head, then a Content-Length body); returns the head."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return head


async def _client(port: int, path: str, body: bytes, stop_at: float, out: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    try:
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            writer.write(request)
            status = int((await _read_message(reader))[9:12])
            if status != 200:
                raise RuntimeError(f"port {port} answered {status}")
            out.append((time.perf_counter() - began) * 1000.0)
    finally:
        writer.close()


async def http_load(port: int, path: str, body: bytes, connections: int, seconds: float) -> list[float]:
    """Closed loop: each connection sends its next request when the previous answer is in. Latencies in ms."""
    out: list[float] = []
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, path, body, stop_at, out) for _ in range(connections)))
    return out


async def serve_upstream(port: int, think_s: float) -> None:
    """An OpenAI-shaped chat endpoint that answers every request after `think_s`."""
    response = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(_ANSWER)}\r\n"
                "Connection: keep-alive\r\n\r\n").encode() + _ANSWER

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await _read_message(reader)
                if head.startswith(b"GET"):
                    writer.write(response)
                    continue
                await asyncio.sleep(think_s)
                writer.write(response)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def serve_bare_proxy(port: int, upstream_port: int) -> None:
    """The floor for a Python proxy on this machine: aiohttp server and client on uvloop (as the gateway
    runs), reading the body, parsing its JSON and passing the answer back, with nothing else (no routing
    table, no header filtering, no capture, no metrics)."""
    import aiohttp
    import uvloop
    from aiohttp import web

    async def serve() -> None:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
        url = f"http://127.0.0.1:{upstream_port}/v1/chat/completions"

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            json.loads(body)
            async with session.post(url, data=body, headers={"content-type": "application/json"}) as answer:
                return web.Response(body=await answer.read(), status=answer.status,
                                    content_type=answer.content_type)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    uvloop.run(serve())
