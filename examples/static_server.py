"""Serves a directory over HTTP: index files, listings, ranges and revalidation."""
import sys

import pymongoose as mg


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000

    def handler(conn, ev, data):
        if ev == mg.MG_EV_HTTP_MSG:
            conn.serve_dir(data, root)

    manager = mg.Manager(handler)
    listener = manager.listen(f"http://127.0.0.1:{port}")
    print(f"serving {root} on http://127.0.0.1:{listener.local_addr[1]}/", flush=True)
    manager.run()


if __name__ == "__main__":
    main()
