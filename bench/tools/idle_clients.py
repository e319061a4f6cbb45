#!/usr/bin/env python3
"""Opens N keep-alive client connections to HOST:PORT, sends one request on each, reads its
response, then holds them all open and idle until stdin closes (or SIGTERM). Source addresses
rotate over 127.0.0.1..127.0.0.N so that 50 000 connections fit the ephemeral port range.
Prints `ready N` (connections that got their response) on stdout once all are idle.

usage: idle_clients.py HOST PORT COUNT
"""
import selectors
import socket
import sys

PER_SOURCE = 20000


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    request = f"GET /?body=10 HTTP/1.1\r\nHost: idle\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    conns = []
    pending = 0
    for index in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((f"127.0.0.{2 + index // PER_SOURCE}", 0))
        sock.setblocking(False)
        try:
            sock.connect((host, port))
        except BlockingIOError:
            pass
        selector.register(sock, selectors.EVENT_WRITE, [b"", False])
        conns.append(sock)
        pending += 1
        # Bounded concurrency while opening, so the listener's backlog holds.
        while pending >= 500:
            pending -= step(selector, request)
    while pending > 0:
        pending -= step(selector, request)
    print(f"ready {count}", flush=True)
    sys.stdin.read()


def step(selector, request):
    """Advances the connections with events; returns how many got their whole response."""
    done = 0
    for key, events in selector.select(timeout=10):
        sock, state = key.fileobj, key.data
        if events & selectors.EVENT_WRITE and not state[1]:
            sock.send(request)
            state[1] = True
            selector.modify(sock, selectors.EVENT_READ, state)
            continue
        data = sock.recv(4096)
        state[0] += data
        if not data or (b"\r\n\r\n" in state[0] and state[0].endswith(b"0123456789")):
            selector.unregister(sock)
            done += 1
    return done


if __name__ == "__main__":
    main()
