"""File upload: multipart/form-data parsed with pymongoose.http_parse_multipart().

GET / returns an HTML form; POST /upload stores every file part in the upload
directory and answers with JSON (field name, file name, size, SHA-256 of each part).
Plain form fields are echoed back too. The request body limit is raised from the
default 3 MiB to 64 MiB with Manager(limits={"max_body": ...}); a bigger upload gets
413 Payload Too Large before its body is read.

Run:
    python examples/upload_server.py [PORT_OR_URL] [--dir UPLOAD_DIR]
    (default port 8000; 0 = any free port; default directory: a new temporary one)

Try:
    open http://127.0.0.1:8000/ in a browser and pick a file
    curl -F "file=@README.md" -F "note=hello" http://127.0.0.1:8000/upload

Ctrl+C or SIGTERM stops it.
"""
import argparse
import hashlib
import os
import tempfile

import pymongoose as mg

MAX_UPLOAD = 64 * 1024 * 1024

FORM = """<!doctype html>
<html><head><meta charset="utf-8"><title>pymongoose upload</title></head>
<body>
<h1>Upload files</h1>
<form method="post" action="/upload" enctype="multipart/form-data">
  <p><input type="file" name="file" multiple></p>
  <p><input type="text" name="note" placeholder="a note"></p>
  <p><button type="submit">Upload</button></p>
</form>
</body></html>
"""


def safe_name(filename):
    """Only the last path component, and never an empty name or a dot file."""
    name = os.path.basename(filename.replace("\\", "/")).strip()
    return name if name and not name.startswith(".") else "upload.bin"


def save_parts(body, upload_dir):
    files, fields = [], {}
    offset = 0
    while True:
        offset, part = mg.http_parse_multipart(body, offset)
        if part is None:
            break
        if not part["filename"]:
            fields[part["name"]] = part["body"].decode("utf-8", "replace")
            continue
        name = safe_name(part["filename"])
        path = os.path.join(upload_dir, name)
        with open(path, "wb") as f:
            f.write(part["body"])
        files.append({"field": part["name"], "filename": name, "size": len(part["body"]),
                      "sha256": hashlib.sha256(part["body"]).hexdigest(), "saved_as": path})
    return files, fields


def main():
    parser = argparse.ArgumentParser(description="multipart file upload server")
    parser.add_argument("listen", nargs="?", default="8000", help="port or URL (default 8000)")
    parser.add_argument("--dir", help="where uploads are stored (default: a new temporary directory)")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.listen}" if args.listen.isdigit() else args.listen
    upload_dir = args.dir or tempfile.mkdtemp(prefix="pymongoose-uploads-")
    os.makedirs(upload_dir, exist_ok=True)

    def handler(conn, ev, data):
        if ev != mg.MG_EV_HTTP_MSG:
            return
        if data.uri == "/" and data.method == "GET":
            conn.reply(200, FORM, {"Content-Type": "text/html; charset=utf-8"})
        elif data.uri == "/upload" and data.method == "POST":
            if data.header_var("Content-Type", "boundary") is None:
                conn.reply_json({"error": "expected multipart/form-data"}, 400)
                return
            files, fields = save_parts(data.body_bytes, upload_dir)
            if not files and not fields:
                conn.reply_json({"error": "no parts found in the body"}, 400)
                return
            conn.reply_json({"files": files, "fields": fields})
        else:
            conn.reply(404, "not found\n")

    manager = mg.Manager(handler, limits={"max_body": MAX_UPLOAD})
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"uploads go to {upload_dir}", flush=True)
    print(f"listening on http://{host}:{port}/", flush=True)
    manager.run()


if __name__ == "__main__":
    main()
