"""A TCP proxy that can make its connections go silent without closing them.

    python3 freeze_proxy.py --listen P --target Q --control-file F

Forwards bytes both ways between clients of 127.0.0.1:P and 127.0.0.1:Q. While F exists the
proxy is frozen:

- every connection open when the freeze began is dead for good: what either side sends is
  read and thrown away, nothing is forwarded, and no socket is closed by the proxy (a
  half-open link, as after a NAT or a route that lost its state without a reset);
- new connections are not accepted: they wait in the listen backlog (the kernel completes
  their handshake, their first bytes wait in its buffers) until F is removed.

After F is removed, new connections are accepted and forwarded normally; dead ones stay dead.

With --drop-replies-file R: while R exists, what the target sends is read and thrown away (on
every connection, open or new) and what clients send is still forwarded: a link whose answers
are lost one way.
A dead connection's side that closes is closed here too, the other side is left open.

Prints "ready" once listening, then one line per event. Exits on SIGTERM or SIGINT.
"""

import argparse
import os
import selectors
import signal
import socket
import sys


def log(text):
    print(text, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--target", type=int, required=True)
    parser.add_argument("--control-file", required=True)
    parser.add_argument("--drop-replies-file", default=None)
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen))
    listener.listen(16)
    listener.setblocking(False)

    selector = selectors.DefaultSelector()
    peers = {}  # socket -> its peer (None once the peer was closed)
    dead = set()  # sockets of connections frozen for good
    accepting = False
    frozen = False
    dropping = False
    upstreams = set()  # the target's side of each connection
    log("ready")

    def close(sock):
        try:
            selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        sock.close()
        peers.pop(sock, None)
        dead.discard(sock)
        upstreams.discard(sock)

    while True:
        now_frozen = os.path.exists(args.control_file)
        if now_frozen and not frozen:
            dead.update(peers.keys())
            log(f"frozen ({len(peers) // 2} connection(s) dead)")
        elif frozen and not now_frozen:
            log("thawed")
        frozen = now_frozen
        now_dropping = args.drop_replies_file is not None and os.path.exists(args.drop_replies_file)
        if now_dropping != dropping:
            log("dropping replies" if now_dropping else "forwarding replies")
        dropping = now_dropping
        if not frozen and not accepting:
            selector.register(listener, selectors.EVENT_READ)
            accepting = True
        elif frozen and accepting:
            selector.unregister(listener)
            accepting = False

        for key, _ in selector.select(timeout=0.02):
            sock = key.fileobj
            if sock is listener:
                try:
                    client, _ = listener.accept()
                except BlockingIOError:
                    continue
                upstream = socket.create_connection(("127.0.0.1", args.target))
                for s in (client, upstream):
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    s.setblocking(False)
                    selector.register(s, selectors.EVENT_READ)
                peers[client] = upstream
                peers[upstream] = client
                upstreams.add(upstream)
                log(f"accepted connection {client.getpeername()[1]}")
                continue
            if sock not in peers:
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            peer = peers.get(sock)
            if sock in dead:
                if not data:
                    if peer is not None:
                        peers[peer] = None
                    close(sock)
                continue  # read and thrown away
            if not data:
                close(sock)
                if peer is not None:
                    close(peer)
                continue
            if dropping and sock in upstreams:
                continue  # the target's answer, lost on the way
            try:
                peer.setblocking(True)
                peer.sendall(data)
                peer.setblocking(False)
            except OSError:
                close(sock)
                close(peer)


if __name__ == "__main__":
    main()
