# SPDX-License-Identifier: MIT
"""Correctness of the MQTT client benchmark (benchmarks/mqtt_bench.py,
benchmarks/mqtt_clients/) — not speed.

- the runner's raw MQTT codec (varints, CONNECT, SUBSCRIBE, PUBLISH) is right;
- the broker configuration is complete, and mosquitto starts from it and stops cleanly;
- every client program validates against mosquitto, and runs its round-trip and messages/s
  loops for a fraction of a second (not a measurement);
- the validator refuses a client that says all is well but puts other bytes on the wire,
  one that reports a problem, and one that dies;
- the runner reads CPU time over exactly the counted window and gives the go afterwards;
- wrong payloads, lost QoS 1 messages and missing lines make a run an error;
- aggregation, the 3x target, the report section and its markers come out right, and
  run_benchmark.py / scripts/bench.sh pass --mqtt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402
import mqtt_bench  # noqa: E402
import mqtt_common  # noqa: E402  (benchmarks/mqtt_clients, put on sys.path by mqtt_bench)

pytestmark = pytest.mark.timeout(60)

needs_mosquitto = pytest.mark.skipif(mqtt_bench.find_mosquitto() is None,
                                     reason="mosquitto is not installed "
                                            "(apt-get install -y mosquitto)")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    if mqtt_bench.find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (apt-get install -y mosquitto)")
    b = mqtt_bench.start_broker(log_dir=tmp_path_factory.mktemp("mqtt-logs"))
    yield b
    b.stop()
    assert b.clean_exit, b.log_tail()


# ---------------------------------------------------------------------------
# Raw codec and shared client pieces
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n,wire", [(0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"),
                                    (16383, b"\xff\x7f"), (16384, b"\x80\x80\x01"),
                                    (268_435_455, b"\xff\xff\xff\x7f")])
def test_varint_round_trip(n, wire):
    assert mqtt_bench.encode_varint(n) == wire
    assert mqtt_bench.decode_varint(b"\x30" + wire + b"rest", 1) == (n, 1 + len(wire))
    assert mqtt_bench.decode_varint(b"\x30" + wire[:-1], 1) is None  # incomplete


def test_varint_limits():
    with pytest.raises(ValueError):
        mqtt_bench.encode_varint(268_435_456)
    with pytest.raises(ValueError):
        mqtt_bench.decode_varint(b"\x30\xff\xff\xff\xff\x01", 1)


def test_packets():
    assert mqtt_bench.connect_packet("c", 60) == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c"
    assert mqtt_bench.subscribe_packet(1, "t", 1) == b"\x82\x06\x00\x01\x00\x01t\x01"
    assert mqtt_bench.puback_packet(258) == b"\x40\x02\x01\x02"
    p = mqtt_bench.publish_packet("a/b", b"\x00\xff", 1, 7)
    assert p == b"\x32\x09\x00\x03a/b\x00\x07\x00\xff"
    assert mqtt_bench.parse_publish(p[0], p[2:]) == ("a/b", b"\x00\xff", 1, 7)
    big = mqtt_bench.publish_packet("t", b"x" * 20000)
    assert big[1:4] == mqtt_bench.encode_varint(20003)
    assert mqtt_bench.parse_publish(big[0], big[4:]) == ("t", b"x" * 20000, 0, 0)


def test_payload_and_validation_plan():
    p = mqtt_common.payload(64)
    assert len(p) == 64 and len(set(p)) == 64
    with pytest.raises(UnicodeDecodeError):
        p.decode()
    plan = mqtt_common.validation_plan(64, b"\x01\x02")
    assert plan[0] == (0, p) and plan[1] == (1, p)
    assert (1, bytes(range(256))) in plan and (0, b"") in plan
    assert any(len(d) >= 16384 for _, d in plan)  # a 3-byte remaining length
    assert plan[-1] == (0, b"nonce:\x01\x02")


def test_check_received_names_each_problem():
    plan = [(0, b"a"), (1, b"bb")]
    ok = [("t", b"a", 0), ("t", b"bb", 1)]
    assert mqtt_common.check_received(plan, ok, "t", 1) == []
    probs = mqtt_common.check_received(plan, [("u", b"a", 0), ("t", b"bx", 0)], "t", 0)
    text = " | ".join(probs)
    assert "topic 'u'" in text and "first difference at byte 1" in text
    assert "QoS 0, expected 1" in text and "0 PUBACK(s) for 1" in text
    assert "never came back" in mqtt_common.check_received(plan, ok[:1], "t", None)[0]
    assert "extra" in mqtt_common.check_received(plan, ok + ok[:1], "t", None)[0]


def test_window_phases(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(mqtt_common.time, "monotonic", lambda: now[0])
    w = mqtt_common.Window(1.0, 2.0)
    assert w.check(100.5) == 0
    assert w.check(101.25) == 1 and w.t_count == 101.25 and w.t_end == 103.25
    assert w.check(103.0) == 0
    assert w.check(103.5) == 2 and w.t_end - w.t_count == pytest.approx(2.25)
    assert w.check(104.0) == 0


def test_client_list_parsing():
    assert mqtt_bench.parse_clients("all") == mqtt_bench.MQTT_ORDER
    assert mqtt_bench.parse_clients("gmqtt,pymongoose,gmqtt") == ["gmqtt", "pymongoose"]
    with pytest.raises(SystemExit, match="unknown MQTT client"):
        mqtt_bench.parse_clients("pymongoose,hbmqtt")


# ---------------------------------------------------------------------------
# Broker
# ---------------------------------------------------------------------------

def test_broker_config():
    conf = mqtt_bench.broker_config(18830, window=100, as_root=False, cap=1000)
    lines = conf.splitlines()
    for line in ("listener 18830 127.0.0.1", "persistence false", "allow_anonymous true",
                 "set_tcp_nodelay true", "max_inflight_messages 100",
                 "max_queued_messages 2000"):
        assert line in lines, line
    assert not any(ln.startswith("user ") for ln in lines)
    assert "user root" in mqtt_bench.broker_config(1, as_root=True).splitlines()


@needs_mosquitto
def test_broker_answers_a_raw_client(broker):
    assert broker.alive()
    sub = mqtt_bench.RawClient(broker.port, "t-raw-sub")
    pub = mqtt_bench.RawClient(broker.port, "t-raw-pub")
    try:
        sub.subscribe("raw/t", 0)
        pub.publish("raw/t", b"\x00hello\xff")
        first, body = sub.read_packet(time.monotonic() + 5)
        assert mqtt_bench.parse_publish(first, body)[:3] == ("raw/t", b"\x00hello\xff", 0)
    finally:
        sub.close()
        pub.close()


# ---------------------------------------------------------------------------
# The client programs
# ---------------------------------------------------------------------------

def _available(name: str) -> mqtt_bench.ClientSpec:
    m = mqtt_bench.check_clients([name])[name]
    if m is not None:
        pytest.skip(f"{name} not available: {m.reason} (install with: {m.install})")
    return mqtt_bench.MQTT_CLIENTS[name]


@pytest.mark.parametrize("name", mqtt_bench.MQTT_ORDER)
def test_client_validates(name, broker, tmp_path):
    spec = _available(name)
    v = mqtt_bench.validate_client(spec, broker.port, log_dir=tmp_path, timeout=20)
    assert v["ok"], (v, (tmp_path / f"mqtt-validate-{name}.log").read_text())
    assert v["observed"] == len(v["plan"]) == 6 and v["exit_code"] == 0


@pytest.mark.parametrize("name", mqtt_bench.MQTT_ORDER)
@pytest.mark.parametrize("key", ["rtt1", "msg1"])
def test_client_loops_run_briefly(name, key, broker, tmp_path):
    """A 0.2-second run of each loop: counted, CPU read, drained, no error."""
    spec = _available(name)
    sc = mqtt_bench.SCENARIO_BY_KEY[key]
    rec = mqtt_bench.measure(spec, sc, broker, duration=0.2, warmup=0.05, window=20, cap=100,
                             log_path=tmp_path / "client.log")
    assert "error" not in rec, (rec, (tmp_path / "client.log").read_text())
    assert rec["messages"] > 0 and rec["bad"] == 0 and rec["rate"] > 0
    assert rec["seconds"] == pytest.approx(0.2, abs=0.1)
    assert rec["client_cpu_util"] is not None and rec["broker_cpu_util"] is not None
    if sc.mode == "throughput":
        assert rec["lost"] == 0 and rec["acked"] > 0


# Fake clients, to see the runner refuse and account.
FAKE_HEAD = f"""
import sys, time
sys.path.insert(0, {str(BENCH)!r})
sys.path.insert(0, {str(BENCH / 'mqtt_clients')!r})
import mqtt_common as common
a = common.parse_args()
"""


def _fake(tmp_path: Path, name: str, body: str) -> mqtt_bench.ClientSpec:
    path = tmp_path / f"{name}.py"
    path.write_text(FAKE_HEAD + textwrap.dedent(body))
    return mqtt_bench.ClientSpec(name, name, str(path))


@needs_mosquitto
def test_validator_refuses_a_client_that_sends_other_bytes(broker, tmp_path):
    # It sees its own (wrong) bytes come back and says all is well: the observer at the
    # broker finds the difference.
    spec = _fake(tmp_path, "liar", """
        import mqtt_bench
        c = mqtt_bench.RawClient(a.port, "liar")
        c.subscribe(a.topic, 0)
        for qos, data in a.plan:
            c.publish(a.topic, data[:-1] + b"?" if data else data)
            c.read_packet(time.monotonic() + 5)
        common.emit("MQTT_VALID", {"ok": True, "problems": []})
        c.close()
    """)
    v = mqtt_bench.validate_client(spec, broker.port, timeout=20)
    assert not v["ok"], v
    assert any(p.startswith("at the broker: message 1:") and "first difference at byte 63" in p
               for p in v["problems"]), v
    assert any("delivered at QoS 0, expected 1" in p for p in v["problems"]), v


@needs_mosquitto
def test_validator_refuses_a_client_that_reports_a_problem_or_dies(broker, tmp_path):
    spec = _fake(tmp_path, "sad", """
        common.emit("MQTT_VALID", {"ok": False, "problems": ["message 2 never came back"]})
    """)
    v = mqtt_bench.validate_client(spec, broker.port, timeout=20)
    assert not v["ok"] and "client: message 2 never came back" in v["problems"], v
    assert any("at the broker: message 1" in p for p in v["problems"]), v
    spec = _fake(tmp_path, "dead", "raise SystemExit(3)\n")
    v = mqtt_bench.validate_client(spec, broker.port, timeout=20)
    assert not v["ok"] and v["exit_code"] == 3, v
    assert "client printed no MQTT_VALID line" in v["problems"], v


def test_runner_reads_cpu_over_the_window_and_then_gives_the_go(tmp_path):
    spec = _fake(tmp_path, "burner", """
        common.emit("MQTT_READY")
        time.sleep(a.warmup)                  # idle before the window
        common.emit("MQTT_COUNTING")
        t0 = time.monotonic()
        while time.monotonic() - t0 < a.duration:
            pass                              # busy during it
        common.emit("MQTT_RESULT", common.result(a.mode, a.qos, 1000, time.monotonic() - t0,
                                                 published=1000, acked=1000, bad=0))
        go = sys.stdin.readline().strip()
        time.sleep(0.3)                       # idle after it: not counted
        common.emit("MQTT_FINAL", {"go": go, "lost": 0, "bad_total": 0})
    """)
    cmd = mqtt_bench.client_command(spec, "throughput", 1, "t", qos=1, duration=0.4, warmup=0.3)
    assert cmd[cmd.index("--window") + 1] == "100" and cmd[cmd.index("--cap") + 1] == "1000"
    t = time.monotonic()
    r = mqtt_bench.drive_client(cmd, cpus=None, log_path=tmp_path / "log", timeout=20,
                                watch={"self": __import__("os").getpid()})
    assert time.monotonic() - t < 10
    assert r["ready"] and r["final"]["go"] == "go" and r["exit_code"] == 0, r
    assert r["wall"] == pytest.approx(0.4, abs=0.1)
    busy = r["cpu"]["client"] / harness.CLK_TCK
    assert 0.2 <= busy <= 0.55, r["cpu"]  # the busy 0.4 s, not the idle 0.6 s
    rec = mqtt_bench.summarize_run({"client": "burner", "scenario": "msg1"},
                                   mqtt_bench.SCENARIO_BY_KEY["msg1"], r)
    assert "error" not in rec, rec
    assert rec["rate"] == pytest.approx(1000 / rec["seconds"])
    assert rec["client_cpu_us_per_msg"] == pytest.approx(busy / 1000 * 1e6)


def test_runner_times_out_a_silent_client(tmp_path):
    spec = _fake(tmp_path, "silent", "time.sleep(30)\n")
    cmd = mqtt_bench.client_command(spec, "rtt", 1, "t")
    t = time.monotonic()
    r = mqtt_bench.drive_client(cmd, cpus=None, log_path=None, timeout=1)
    assert time.monotonic() - t < 3
    assert "no answer within 1 s" in r["error"] and r["exit_code"] != 0


def _seen(messages=1000, secs=1.0, bad=0, final=None, error=None):
    r = {"result": mqtt_common.result("throughput", 1, messages, secs, published=messages,
                                      acked=messages, bad=bad),
         "final": final if final is not None else {"lost": 0, "bad_total": bad},
         "cpu": {"client": 50, "broker": 20}, "system_tasks": 75, "wall": 1.0, "exit_code": 0}
    if error:
        r["error"] = error
    return r


@pytest.mark.parametrize("seen,expect", [
    (_seen(bad=2), "2 message(s) with a wrong payload"),
    (_seen(final={"lost": 3, "bad_total": 0}), "3 QoS 1 message(s) never delivered"),
    (_seen(final={}), "no MQTT_FINAL line"),
    (_seen(messages=0), "nothing counted"),
    (_seen(error="stalled after 10 deliveries"), "stalled after 10 deliveries"),
    ({"error": "client exited with status 1"}, "client exited with status 1"),
    ({}, "no MQTT_RESULT line"),
])
def test_a_run_with_problems_is_an_error(seen, expect):
    rec = mqtt_bench.summarize_run({}, mqtt_bench.SCENARIO_BY_KEY["msg1"], seen)
    assert expect in rec["error"], rec


def test_run_accounting():
    rec = mqtt_bench.summarize_run({}, mqtt_bench.SCENARIO_BY_KEY["msg0"], _seen())
    assert "error" not in rec
    tick = harness.CLK_TCK
    assert rec["client_cpu_us_per_msg"] == pytest.approx(50 / tick / 1000 * 1e6)
    assert rec["broker_cpu_util"] == pytest.approx(20 / tick)
    assert rec["other_cpu_util"] == pytest.approx(5 / tick)
    # QoS 0 losses are reported, not an error
    rec = mqtt_bench.summarize_run({}, mqtt_bench.SCENARIO_BY_KEY["msg0"],
                                   _seen(final={"lost": 4, "bad_total": 0}))
    assert "error" not in rec and rec["lost"] == 4


# ---------------------------------------------------------------------------
# Aggregation and report
# ---------------------------------------------------------------------------

def _result(rates: dict, refused: dict | None = None, quick=False) -> dict:
    """A synthetic mqtt_results dict: rates[scenario][client] per second (3 runs each)."""
    runs = []
    for key, per in rates.items():
        for n, r in per.items():
            for k, f in enumerate((0.95, 1.0, 1.05)):
                runs.append({"client": n, "scenario": key, "rate": r * f, "messages": int(r),
                             "seconds": 1.0, "bad": 0, "lost": 0, "repetition": k + 1,
                             "client_cpu_us_per_msg": 1e6 / r, "client_cpu_util": 0.98,
                             "broker_cpu_us_per_msg": 5.0, "broker_cpu_util": 0.3,
                             "other_cpu_util": 0.01})
    names = list(mqtt_bench.MQTT_ORDER)
    summary = mqtt_bench.summarize(runs, names, mqtt_bench.SCENARIOS)
    validation = {n: {"ok": True, "problems": [], "observed": 6, "plan": [[0, 1]] * 6}
                  for n in names}
    validation.update(refused or {})
    return {"generated": "2026-01-01T00:00:00+00:00",
            "pymongoose_build": {"before": "x", "after": "x"},
            "settings": {"message_bytes": 64, "window": 100, "cap": 1000, "duration_s": 3,
                         "repetitions": 3, "warmup_s": 1, "protocol": "MQTT 3.1.1",
                         "server_cpus": [0], "client_cpus": [1]},
            "clients": names, "scenarios": [s.__dict__ for s in mqtt_bench.SCENARIOS],
            "descriptions": {n: mqtt_bench.MQTT_CLIENTS[n].description for n in names},
            "broker": {"version": "mosquitto version 2.0.11",
                       "config": mqtt_bench.broker_config(1883, as_root=True)},
            "validation": validation, "runs": runs, "summary": summary,
            "targets": mqtt_bench.evaluate_targets(summary),
            "versions": {"paho-mqtt": "2.2.0"}, "quick": quick}


def test_summary_targets_and_section():
    rates = {"rtt0": {"pymongoose": 30000, "paho": 9000, "gmqtt": 8000},
             "rtt1": {"pymongoose": 20000, "paho": 5000, "gmqtt": 6000},
             "msg0": {"pymongoose": 90000, "paho": 20000, "gmqtt": 30000},
             "msg1": {"pymongoose": 40000, "paho": 16000, "gmqtt": 15000}}
    res = _result(rates)
    s = res["summary"]["rtt0"]["pymongoose"]
    assert s["n"] == 3 and s["rate_median"] == 30000 and s["rate_min"] == pytest.approx(28500)
    t = {x["scenario"]: x for x in res["targets"]}
    assert t["rtt0"]["ratio"] == pytest.approx(30000 / 9000) and t["rtt0"]["met"] is True
    assert t["rtt1"]["met"] is True and t["msg0"]["met"] is True
    assert t["msg1"]["ratio"] == pytest.approx(2.5) and t["msg1"]["met"] is False
    assert t["msg1"]["cpu_ratio"] == pytest.approx(2.5)
    assert t["msg1"]["target"] == "messages per second, QoS 1: pymongoose ≥ 3× paho-mqtt"
    assert mqtt_bench.all_measured(res)
    md = mqtt_bench.render_markdown(res)
    assert "{{" not in md and "Smoke run" not in md
    assert md.count("**not met**") == 1 and md.count("| met |") == 3
    assert "| 30,000 (3.33× paho) |" in md  # summary table
    assert md.count("| **pymongoose** |") == 5  # the summary and one row per figure table
    assert "max_inflight_messages 100" in md and "\nuser root\n" not in md
    assert "\nlistener PORT 127.0.0.1\n" in md
    assert "taskset -c 1 .venv/bin/python benchmarks/mqtt_clients/paho_client.py rtt" in md
    assert "mosquitto version 2.0.11" in md
    for sc in mqtt_bench.SCENARIOS:
        assert f"### {sc.key}: {sc.title}" in md
    assert "Noisy machine" not in md and "changed during the run" not in md
    assert "at most 1,000 messages published and not yet delivered back" in md
    assert "  target messages per second, QoS 1: pymongoose ≥ 3× paho-mqtt: 2.50× (NOT MET)" \
        in mqtt_bench.console_summary(res)


def test_section_shows_a_refused_client_and_a_smoke_run():
    rates = {k: {"pymongoose": 100, "paho": 50} for k in ("rtt0", "rtt1", "msg0", "msg1")}
    bad = {"ok": False, "problems": ["at the broker: message 3: 255 bytes came back"],
           "observed": 6, "plan": [[0, 1]] * 6}
    res = _result(rates, refused={"gmqtt": bad}, quick=True)
    md = mqtt_bench.render_markdown(res, quick=True)
    assert "Smoke run" in md
    assert "| gmqtt | at the broker: message 3: 255 bytes came back |" in md
    assert "**REFUSED**: at the broker: message 3" in md
    assert not mqtt_bench.all_measured(res)
    res["pymongoose_build"]["after"] = "y"
    res["runs"][0]["other_cpu_util"] = 0.5
    md = mqtt_bench.render_markdown(res)
    assert "pymongoose changed during the run" in md and "Noisy machine" in md


def test_render_without_results_points_to_the_command():
    md = mqtt_bench.render_markdown(None)
    assert "mqtt_bench.py" in md and "--mqtt" in md


def test_results_section_is_inserted_and_replaced(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# r\n\n## HTTPS (TLS 1.3)\n\nx\n\n## Idle keep-alive connections\n\ny\n")
    mqtt_bench.update_results_md(path, "first")
    text = path.read_text()
    assert text.index("## HTTPS") < text.index(mqtt_bench.SECTION_TITLE) \
        < text.index("## Idle keep-alive connections")
    mqtt_bench.update_results_md(path, "second")
    text = path.read_text()
    assert text.count(mqtt_bench.SECTION_TITLE) == 1 and "first" not in text
    assert f"{mqtt_bench.MARK_BEGIN}\nsecond\n{mqtt_bench.MARK_END}" in text


def test_results_json_round_trip(tmp_path):
    res = _result({"rtt0": {"pymongoose": 5.0}})
    (tmp_path / mqtt_bench.JSON_NAME).write_text(json.dumps(res))
    assert mqtt_bench.load_results(tmp_path)["summary"] == json.loads(json.dumps(res["summary"]))
    assert mqtt_bench.load_results(tmp_path / "nowhere") is None


def test_run_benchmark_and_bench_sh_know_mqtt():
    p = subprocess.run([sys.executable, str(BENCH / "run_benchmark.py"), "--help"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "--mqtt" in p.stdout and "--mqtt-clients" in p.stdout
    tmpl = (BENCH / "RESULTS.template.md").read_text()
    assert "{{MQTT}}" in tmpl and mqtt_bench.MARK_BEGIN in tmpl and mqtt_bench.MARK_END in tmpl
    assert mqtt_bench.SECTION_TITLE in tmpl
    assert tmpl.index("{{TLS}}") < tmpl.index("{{MQTT}}") < tmpl.index("{{IDLE}}")
    bench_sh = (ROOT / "scripts" / "bench.sh").read_text()
    assert "run_benchmark.py --ws --tls --mqtt" in bench_sh
    reqs = (BENCH / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("gmqtt") for line in reqs)


def test_what_bounds_a_figure():
    assert mqtt_bench.bound_by({"client_cpu_util": 0.98, "broker_cpu_util": 0.3}) == ""
    assert mqtt_bench.bound_by({"client_cpu_util": 0.5, "broker_cpu_util": 0.97}).startswith(
        "broker-bound: mosquitto at 97 % of its core, the client at 50 %")
    assert mqtt_bench.bound_by({"client_cpu_util": 0.4, "broker_cpu_util": 0.4}).startswith(
        "latency-bound: the client at 40 %")
    assert mqtt_bench.bound_by({"n": 0}) == ""
    res = _result({k: {"pymongoose": 100, "paho": 50} for k in ("rtt0", "rtt1", "msg0", "msg1")})
    res["summary"]["rtt0"]["pymongoose"]["client_cpu_util"] = 0.4
    res["summary"]["rtt0"]["pymongoose"]["broker_cpu_util"] = 0.4
    res["targets"] = mqtt_bench.evaluate_targets(res["summary"])
    md = mqtt_bench.render_markdown(res)
    assert "| 2.00× | **not met** | 2.00× | latency-bound: the client at 40 %" in md
    assert "; latency-bound" in mqtt_bench.console_summary(res)
