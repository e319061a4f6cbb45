#!/usr/bin/env python3
"""Opens keep-alive client connections to HOST:PORT, sends one request on each, reads its
response, then holds them all open and idle. Source addresses rotate over 127.0.0.2.. so that
50 000 connections fit the ephemeral port range.

usage: idle_clients.py HOST PORT [COUNT]

With COUNT, opens COUNT connections and prints `ready COUNT` once all are idle. Then each line
read from stdin is a total to reach: `5000` opens connections until 5 000 are held, then prints
`ready 5000`. The connections close when stdin closes (or on SIGTERM). A connection whose
response did not come (closed, reset, or 10 s of silence) fails the run: the count held must be
the count asked for.
"""
import selectors
import socket
import sys

PER_SOURCE = 20000
# Connections opening at once: the listener's backlog must hold them.
CONCURRENCY = 500


class Clients:
    def __init__(self, host, port):
        self.address = (host, port)
        self.request = b"GET /?body=10 HTTP/1.1\r\nHost: idle\r\n\r\n"
        self.selector = selectors.DefaultSelector()
        self.conns = []
        self.failed = 0

    def grow_to(self, total):
        """Opens connections until `total` are held, each with its response read."""
        pending = 0
        while len(self.conns) < total:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((f"127.0.0.{2 + len(self.conns) // PER_SOURCE}", 0))
            sock.setblocking(False)
            try:
                sock.connect(self.address)
            except BlockingIOError:
                pass
            self.selector.register(sock, selectors.EVENT_WRITE, [b"", False])
            self.conns.append(sock)
            pending += 1
            while pending >= CONCURRENCY:
                pending -= self.step()
        while pending > 0:
            pending -= self.step()
        if self.failed:
            sys.exit(f"{self.failed} connections got no response")
        print(f"ready {len(self.conns)}", flush=True)

    def step(self):
        """Advances the connections with events; returns how many are done."""
        done = 0
        events = self.selector.select(timeout=10)
        if not events:
            sys.exit("no progress for 10 s")
        for key, mask in events:
            sock, state = key.fileobj, key.data
            if mask & selectors.EVENT_WRITE and not state[1]:
                sock.send(self.request)
                state[1] = True
                self.selector.modify(sock, selectors.EVENT_READ, state)
                continue
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            state[0] += data
            complete = b"\r\n\r\n" in state[0] and state[0].endswith(b"0123456789")
            if not data or complete:
                self.selector.unregister(sock)
                self.failed += not complete
                done += 1
        return done


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    clients = Clients(host, port)
    if len(sys.argv) > 3:
        clients.grow_to(int(sys.argv[3]))
    for line in sys.stdin:
        if line.strip():
            clients.grow_to(int(line))


if __name__ == "__main__":
    main()
