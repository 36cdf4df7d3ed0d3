"""The smallest pymongoose HTTP server: answers every request with a JSON greeting."""
import sys

import pymongoose as mg

BODY = '{"message":"Hello, World!"}'


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        conn.reply(200, BODY, headers={"Content-Type": "application/json"})


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    manager = mg.Manager(handler)
    listener = manager.listen(f"http://127.0.0.1:{port}", http=True)
    print(f"listening on http://127.0.0.1:{listener.local_addr[1]}/", flush=True)
    manager.run()


if __name__ == "__main__":
    main()
