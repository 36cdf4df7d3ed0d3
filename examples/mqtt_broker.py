"""MQTT broker: a small one, built on Manager.mqtt_listen().

mqtt_listen() parses MQTT packets but is not a broker: each packet arrives as
MG_EV_MQTT_CMD (PUBLISH also as MG_EV_MQTT_MSG), and only the QoS acknowledgements are
sent automatically. This program does the rest: CONNACK and SUBACK (MQTT 3.1.1 or 5, as
the client's CONNECT says; topic filters read from the SUBSCRIBE packet's data), PINGRESP,
and routing each PUBLISH to the subscribers whose filter matches (MQTT wildcards `+` and
`#`). No sessions, no retained messages.

Run:
    python examples/mqtt_broker.py                    # mqtt://127.0.0.1:1883
    python examples/mqtt_broker.py 0                  # any free port (printed at start)
    python examples/mqtt_broker.py mqtt://0.0.0.0:1883

Try (with the mosquitto clients, or examples/mqtt_client.py):
    mosquitto_sub -h 127.0.0.1 -p 1883 -t 'sensors/#' &
    mosquitto_pub -h 127.0.0.1 -p 1883 -t sensors/temp -m 21.5

Ctrl+C or SIGTERM stops it.
"""
import sys

import pymongoose as mg

subscriptions = []  # (connection, topic filter, qos)


def topic_matches(topic, pattern):
    """MQTT 3.1.1 §4.7: `+` matches one level, a final `#` the rest."""
    t, p = topic.split("/"), pattern.split("/")
    for i, part in enumerate(p):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(t) == len(p)


def topic_filters(data):
    """(filter, qos) pairs of a SUBSCRIBE packet's payload: length-prefixed UTF-8 + options."""
    out, i = [], 0
    while i + 2 <= len(data):
        n = int.from_bytes(data[i:i + 2], "big")
        topic = data[i + 2:i + 2 + n].decode("utf-8", "replace")
        options = data[i + 2 + n] if i + 2 + n < len(data) else 0
        out.append((topic, options & 3))
        i += 3 + n
    return out


def handler(conn, ev, data):
    if ev == mg.MG_EV_MQTT_CMD:
        if data.cmd == 1:  # CONNECT -> CONNACK "accepted"; data starts with the protocol level
            conn.userdata = data.data[0] if data.data else 4
            conn.send(b"\x20\x03\x00\x00\x00" if conn.userdata == 5 else b"\x20\x02\x00\x00")
        elif data.cmd == 8:  # SUBSCRIBE -> SUBACK with the granted QoS of each filter
            granted = []
            for topic, qos in topic_filters(data.data):
                subscriptions.append((conn, topic, min(qos, 1)))
                granted.append(min(qos, 1))
            props = b"\x00" if conn.userdata == 5 else b""  # MQTT 5: an empty property block
            body = bytes([data.id >> 8, data.id & 0xFF]) + props + bytes(granted)
            conn.send(bytes([0x90, len(body)]) + body)
        elif data.cmd == 12:  # PINGREQ
            conn.mqtt_pong()
        elif data.cmd == 14:  # DISCONNECT
            conn.drain()
    elif ev == mg.MG_EV_MQTT_MSG:  # PUBLISH: route it
        for sub, pattern, qos in subscriptions:
            if topic_matches(data.topic, pattern):
                sub.mqtt_pub(data.topic, data.data, qos=min(qos, data.qos))
    elif ev == mg.MG_EV_CLOSE:
        subscriptions[:] = [s for s in subscriptions if s[0] is not conn]


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "1883"
    if url.isdigit():
        url = f"mqtt://127.0.0.1:{url}"
    manager = mg.Manager(handler)
    listener = manager.mqtt_listen(url)
    host, port, _ = listener.local_addr
    print(f"listening on mqtt://{host}:{port}/", flush=True)
    manager.run()


if __name__ == "__main__":
    main()
