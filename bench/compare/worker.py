"""The RPC worker: the comparison's third way, Python in a process of its own.

It serves workloads.py (and the glupy demo's negative-lookup cache) over
a Unix socket, one thread per connection, speaking msgpack: a request is
[method, args], an answer [0, result] or [1, error text]. While it runs
`call_go_loop` it calls back into Go: it sends [2, name] and waits for
Go's [0, result] before going on.

Run as: python worker.py SOCKET_PATH (it prints "ready" once listening).
"""

import os
import socket
import sys
import threading
from pathlib import Path

import msgpack
import workloads

# The glupy demo's negative-lookup cache: the same module pyhost loads as hooks.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "glupy"))
import negative_cache  # noqa: E402

ANSWER, FAILED, CALLBACK = 0, 1, 2


class Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.unpacker = msgpack.Unpacker(raw=False)

    def receive(self):
        while True:
            for message in self.unpacker:
                return message
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError
            self.unpacker.feed(data)

    def send(self, message) -> None:
        self.sock.sendall(msgpack.packb(message, use_bin_type=True))

    def call_go_loop(self, n: int) -> int:
        for _ in range(n):
            self.send([CALLBACK, "noop"])
            code, _ = self.receive()
            if code != ANSWER:
                raise RuntimeError("the Go callback failed")
        return n

    def serve(self) -> None:
        methods = {
            "noop": workloads.noop,
            "add": workloads.add,
            "cpu_work": workloads.cpu_work,
            "io_wait": workloads.io_wait,
            "metrics": workloads.metrics,
            "call_go_loop": self.call_go_loop,
            "cache_reset": negative_cache.reset,
            "cache_dispatch": negative_cache.known_absent,
            "cache_learn": negative_cache.learn,
        }
        try:
            while True:
                method, args = self.receive()
                try:
                    answer = [ANSWER, methods[method](*args)]
                except Exception as e:  # the caller gets the error as text
                    answer = [FAILED, f"{type(e).__name__}: {e}"]
                self.send(answer)
        except (EOFError, ConnectionError):
            pass
        finally:
            self.sock.close()


def main() -> None:
    path = sys.argv[1]
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(128)
    print("ready", flush=True)
    while True:
        sock, _ = server.accept()
        threading.Thread(target=Connection(sock).serve, daemon=True).start()


if __name__ == "__main__":
    main()
