"""fork() after listen (test_engine_defects.py, section 5). Exit status 0 = every check
passed; each failed check is reported on stderr.

Usage: defects_fork.py <module>

1. A Manager listens on http://127.0.0.1:0 and accepts one connection from a client
   socket of this process.
2. os.fork(). The child calls mgr.poll(0), which must raise RuntimeError mentioning
   fork; it reports the outcome through a pipe and then waits (reading another pipe)
   while it holds every inherited descriptor, the accepted socket included.
3. The parent closes the accepted connection (conn.close()); the client then sends
   bytes on its socket, whose server end is still open in the child. The parent keeps
   serving: 20 fresh HTTP requests from a client thread must be answered correctly while
   the main thread polls, and afterwards the idle loop must not spin (the stale socket's
   unread bytes must not keep waking the parent's poller).
4. The parent lets the child exit and reaps it.
"""
import importlib
import os
import select
import signal
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
FRESH = 20
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)
        print("FAIL:", what, file=sys.stderr, flush=True)
    return ok


def read_response(sock):
    """One Content-Length-framed response: (status, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"peer closed; got {buf!r}")
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("peer closed inside the body")
        rest += data
    return status, rest[:length]


def main():
    signal.alarm(25)  # never outlive the test
    mg = importlib.import_module(sys.argv[1])
    accepted = []

    def handler(conn, ev, data):
        if ev == mg.MG_EV_ACCEPT:
            accepted.append(conn)
        elif ev == mg.MG_EV_HTTP_MSG:
            conn.reply(200, "answer " + data.uri)

    mgr = mg.Manager(handler, error_handler=lambda e: check(False, f"handler raised {e!r}"))
    port = mgr.listen(f"http://{HOST}:0").local_addr[1]
    client = socket.create_connection((HOST, port), timeout=5)
    deadline = time.monotonic() + 5
    while not accepted:
        if time.monotonic() > deadline:
            check(False, "the first connection was never accepted")
            return 1
        mgr.poll(10)

    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # ---------------------------------------------------------------- child
        os.close(to_child_w)
        os.close(from_child_r)
        try:
            mgr.poll(0)
            report = b"F poll(0) in the forked child did not raise"
        except RuntimeError as e:
            text = str(e)
            report = (b"P " if "fork" in text.lower() else b"F RuntimeError without 'fork': ") \
                + text.encode("utf-8", "replace")
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            report = b"F unexpected " + repr(e).encode("utf-8", "replace")
        os.write(from_child_w, report.replace(b"\n", b" ") + b"\n")
        os.read(to_child_r, 1)  # hold the inherited descriptors until the parent is done
        os._exit(0)

    # ------------------------------------------------------------------------------ parent
    os.close(to_child_r)
    os.close(from_child_w)
    try:
        ready, _, _ = select.select([from_child_r], [], [], 5)
        report = os.read(from_child_r, 4096).decode("utf-8", "replace").strip() if ready else ""
        check(report.startswith("P "), f"child: {report or 'no report within 5 s'}")

        accepted[0].close()
        # The server end of this socket is still open in the child: the bytes arrive on a
        # descriptor the parent's manager no longer owns.
        client.sendall(b"GET /stale HTTP/1.1\r\nHost: x\r\n\r\n")

        results = []

        def fresh_clients():
            for i in range(FRESH):
                with socket.create_connection((HOST, port), timeout=5) as s:
                    s.sendall(f"GET /fresh/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                    results.append(read_response(s))

        worker = threading.Thread(target=fresh_clients, daemon=True)
        worker.start()
        deadline = time.monotonic() + 10
        while worker.is_alive() and time.monotonic() < deadline:
            mgr.poll(10)
        for _ in range(5):  # a few more iterations after the traffic
            mgr.poll(10)
        check(not worker.is_alive(), f"fresh requests not served within 10 s ({len(results)} done)")
        expected = [(200, f"answer /fresh/{i}".encode()) for i in range(FRESH)]
        check(results == expected, f"fresh responses {results!r}")
        # Idle now: the stale socket's unread bytes must not make the loop spin.
        c0, w0 = time.thread_time(), time.monotonic()
        while time.monotonic() - w0 < 0.5:
            mgr.poll(50)
        share = (time.thread_time() - c0) / (time.monotonic() - w0)
        check(share < 0.2, f"idle parent loop at {share:.0%} CPU")
    finally:
        os.write(to_child_w, b"x")
        _, status = os.waitpid(pid, 0)
        check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}")
        client.close()
    mgr.close()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
