"""MQTT client: subscribe to a topic, publish to it, print what comes back.

Manager.mqtt_connect() queues the CONNECT packet at once; the broker's CONNACK arrives as
MG_EV_MQTT_OPEN with its return code (0 = accepted). The client then subscribes, publishes
its messages at the chosen QoS (acknowledgements are automatic) and prints each message
received (MG_EV_MQTT_MSG). A timer sends PINGREQ every keepalive/2 seconds: the engine
never pings by itself. `--version 5` speaks MQTT 5; `--will` sets a will message.

Run:
    python examples/mqtt_client.py URL [--topic T] [--qos N] [--count N] [--message TEXT]

Try (start examples/mqtt_broker.py, or any broker such as mosquitto, first):
    python examples/mqtt_client.py mqtt://127.0.0.1:1883 --topic demo/x --count 3
    python examples/mqtt_client.py mqtt://127.0.0.1:1883 --qos 1 --version 5

Exits 0 after receiving its `--count` messages back, 1 on an error or a refused CONNECT;
Ctrl+C or SIGTERM stops it (exit 0).
"""
import argparse
import signal
import sys

import pymongoose as mg


def main():
    parser = argparse.ArgumentParser(description="MQTT client")
    parser.add_argument("url")
    parser.add_argument("--topic", default="pymongoose/demo")
    parser.add_argument("--message", default="hello")
    parser.add_argument("--qos", type=int, default=0, choices=(0, 1, 2))
    parser.add_argument("--count", type=int, default=1, help="messages to publish and await")
    parser.add_argument("--version", type=int, default=4, choices=(4, 5))
    parser.add_argument("--keepalive", type=int, default=30)
    parser.add_argument("--will", help="will message published on an abrupt disconnect")
    args = parser.parse_args()

    state = {"received": 0, "status": None}

    def handler(conn, ev, data):
        if ev == mg.MG_EV_MQTT_OPEN:
            if data != 0:
                print(f"CONNECT refused: return code {data}", file=sys.stderr)
                state["status"] = 1
                return
            print("connected", flush=True)
            conn.mqtt_sub(args.topic, qos=args.qos)
            for i in range(args.count):
                conn.mqtt_pub(args.topic, f"{args.message} {i}", qos=args.qos)
        elif ev == mg.MG_EV_MQTT_MSG:
            print(f"{data.topic}: {data.text} (qos {data.qos})", flush=True)
            state["received"] += 1
            if state["received"] >= args.count:
                conn.mqtt_disconnect()
                conn.drain()
                state["status"] = 0
        elif ev == mg.MG_EV_ERROR:
            print(f"error: {data}", file=sys.stderr)
            state["status"] = 1
        elif ev == mg.MG_EV_CLOSE and state["status"] is None:
            state["status"] = 1

    def stop(signum, frame):
        state["status"] = 0

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    manager = mg.Manager(handler)
    will = {"will_topic": args.topic, "will_message": args.will} if args.will else {}
    conn = manager.mqtt_connect(args.url, keepalive=args.keepalive, version=args.version, **will)
    manager.timer_add(args.keepalive * 500, conn.mqtt_ping, repeat=True)
    try:
        while state["status"] is None:
            manager.poll(100)
        manager.poll(50)  # let the DISCONNECT go out
    finally:
        manager.close()
    sys.exit(state["status"])


if __name__ == "__main__":
    main()
