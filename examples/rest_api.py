"""REST API with JSON: a small in-memory note store.

Shows routing on method and path with pymongoose.match() (a glob with captures),
reading JSON request bodies, and answering with Connection.reply_json() and proper
status codes (200, 201, 204, 400, 404, 405).

    GET    /api/notes          list every note
    POST   /api/notes          create one from {"text": "..."}    -> 201 + Location
    GET    /api/notes/<id>     one note                           -> 404 if unknown
    PUT    /api/notes/<id>     replace its text
    DELETE /api/notes/<id>     delete it                          -> 204

Run:
    python examples/rest_api.py [PORT_OR_URL]      # default 8000; 0 = any free port

Try:
    curl -s -X POST -d '{"text": "buy milk"}' http://127.0.0.1:8000/api/notes
    curl -s http://127.0.0.1:8000/api/notes
    curl -s -X PUT -d '{"text": "buy oat milk"}' http://127.0.0.1:8000/api/notes/1
    curl -i -X DELETE http://127.0.0.1:8000/api/notes/1
    curl -i http://127.0.0.1:8000/api/notes/42                     # 404

Ctrl+C or SIGTERM stops it.
"""
import json
import sys

import pymongoose as mg

notes = {}  # id -> {"id": ..., "text": ...}
next_id = 1


def read_note(message):
    """The note text from a JSON body, or None when the body is not what we expect."""
    try:
        doc = json.loads(message.body_bytes or b"null")
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("text"), str):
        return doc["text"]
    return None


def handle(conn, message):
    global next_id
    method, uri = message.method, message.uri
    if uri == "/api/notes":
        if method == "GET":
            return conn.reply_json(list(notes.values()))
        if method == "POST":
            text = read_note(message)
            if text is None:
                return conn.reply_json({"error": 'expected {"text": "..."}'}, 400)
            note = {"id": next_id, "text": text}
            notes[next_id] = note
            next_id += 1
            return conn.reply_json(note, 201, {"Location": f"/api/notes/{note['id']}"})
        return conn.reply_json({"error": "method not allowed"}, 405, {"Allow": "GET, POST"})

    matched, captures = mg.match(uri, "/api/notes/*")
    if matched and captures[0].isdigit():
        note_id = int(captures[0])
        if note_id not in notes:
            return conn.reply_json({"error": f"no note {note_id}"}, 404)
        if method == "GET":
            return conn.reply_json(notes[note_id])
        if method == "PUT":
            text = read_note(message)
            if text is None:
                return conn.reply_json({"error": 'expected {"text": "..."}'}, 400)
            notes[note_id]["text"] = text
            return conn.reply_json(notes[note_id])
        if method == "DELETE":
            del notes[note_id]
            return conn.reply(204)
        return conn.reply_json({"error": "method not allowed"}, 405,
                               {"Allow": "GET, PUT, DELETE"})

    conn.reply_json({"error": "not found", "try": "/api/notes"}, 404)


def handler(conn, ev, data):
    if ev == mg.MG_EV_HTTP_MSG:
        handle(conn, data)


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "8000"
    if url.isdigit():
        url = f"http://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    listener = manager.listen(url, http=True)
    host, port, ipv6 = listener.local_addr
    host = f"[{host}]" if ipv6 else host
    print(f"listening on http://{host}:{port}/api/notes", flush=True)
    manager.run()


if __name__ == "__main__":
    main()
