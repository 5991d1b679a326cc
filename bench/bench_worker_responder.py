"""A trivially fast OpenAI-style challenger for the worker benchmarks: one fixed answer, no framework.

    python bench/bench_worker_responder.py --port 8999

A bare asyncio protocol (HTTP/1.1 keep-alive, Content-Length bodies) that answers every request with
the same chat completion, so a benchmark measures the worker and not the model server (the sim model,
Starlette on uvicorn, spends ≈ 200–250 µs of CPU per call; this one a few tens).
"""

from __future__ import annotations

import argparse
import asyncio
import json

BODY = json.dumps({"id": "chatcmpl-fixed", "object": "chat.completion", "created": 0, "model": "fixed",
                   "choices": [{"index": 0, "message": {"role": "assistant",
                                                        "content": "Item is a fine item. It is in the catalogue."},
                                "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": 12, "completion_tokens": 11, "total_tokens": 23}}).encode()
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(BODY)).encode()
            + b"\r\n\r\n" + BODY)
HEALTH = b'{"status": "ok"}'
HEALTH_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                   + str(len(HEALTH)).encode() + b"\r\n\r\n" + HEALTH)


class Responder(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15:].split(b"\r\n", 1)[0])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.transport.write(HEALTH_RESPONSE if head.startswith(b"get /healthz") else RESPONSE)
            self.buffer = self.buffer[end:]


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))
