"""SNTP client: ask a time server for the time and compare it with the local clock.

Manager.sntp_connect() opens a UDP socket to the server (port 123 unless the URL names
another), sends a 48-byte request as soon as the host is resolved, and delivers the first
valid reply as MG_EV_SNTP_TIME: the server's time in Unix milliseconds, corrected by half
the round trip. An invalid reply gives MG_EV_ERROR("invalid SNTP reply"); without a reply
the connection closes after 3 seconds.

Run:
    python examples/sntp_client.py [URL]        # default udp://pool.ntp.org:123

Try:
    python examples/sntp_client.py udp://time.google.com
    python examples/sntp_client.py sntp://127.0.0.1:12345    # a local server of your own

Prints the server time and its offset from the local clock; exits 0 on a reply, 1 otherwise.
"""
import datetime
import sys
import time

import pymongoose as mg


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "udp://pool.ntp.org:123"
    result = {"status": 1, "done": False}

    def handler(conn, ev, data):
        if ev == mg.MG_EV_SNTP_TIME:
            server = datetime.datetime.fromtimestamp(data / 1000, datetime.timezone.utc)
            offset = data - time.time() * 1000
            print(f"server time {server.isoformat(timespec='milliseconds')} (offset {offset:+.0f} ms)")
            result["status"] = 0
        elif ev == mg.MG_EV_ERROR:
            print(f"error: {data}", file=sys.stderr)
        elif ev == mg.MG_EV_CLOSE:
            result["done"] = True

    manager = mg.Manager(handler)
    manager.sntp_connect(url)
    try:
        while not result["done"]:
            manager.poll(100)
    except KeyboardInterrupt:
        pass
    finally:
        manager.close()
    if result["status"]:
        print("no time from the server", file=sys.stderr)
    sys.exit(result["status"])


if __name__ == "__main__":
    main()
