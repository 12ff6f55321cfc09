#!/usr/bin/python3
"""bench/cluster_report.py RESULTS: the Markdown tables of one bench/cluster
run (its directory of ferry-bench JSON and logs, and the window hooks'
files), for bench/cluster.md. Prints to stdout."""
import json
import os
import re
import statistics
import sys


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def text(d, name):
    try:
        with open(os.path.join(d, name)) as fh:
            return fh.read().strip()
    except OSError:
        return ""


def log_value(d, name, label):
    """The value column of a line of NAME.log that starts with `label`."""
    for line in text(d, name + ".log").splitlines():
        if line.strip().startswith(label):
            return line.strip()[len(label):].strip()
    return ""


def numbers(s):
    return [float(x) for x in re.findall(r"[\d.]+", s)]


def p50_p99(s):
    """'p50 A  p99 B ...' -> 'A / B'."""
    m = re.search(r"p50 ([\d.]+)\s+p99 ([\d.]+)", s)
    return f"{m.group(1)} / {m.group(2)}" if m else "- / -"


def window_stats(d, name, rate_sent):
    """Per-message costs over NAME's window from the hook's files."""
    out = {}
    sp = text(d, name + ".spublish").split()
    pg = text(d, name + ".pg").split()
    delivered = numbers(log_value(d, name, "messages in window"))
    msgs = delivered[0] if delivered else 0
    if msgs and len(sp) == 2:
        out["spublish"] = int(sp[1]) / msgs
    if msgs and len(pg) == 4:
        out["commits"] = int(pg[1]) / msgs
        out["rows"] = int(pg[2]) / msgs
        out["wal"] = int(pg[3]) / msgs
    for part in ("ferryd", "pg", "redis", "haproxy"):
        v = text(d, f"{name}.cpu-{part}")
        if v and rate_sent:
            out["cpu_" + part] = float(v) / 100 * 1e6 / rate_sent  # µs per message
    return out


def main():
    d = sys.argv[1]
    rate = text(d, "half-rate.txt")
    print(f"Results: `{d}` (code of {text(d, 'commit.txt')}); "
          f"the idle cluster's floor: {text(d, 'floor.txt')} % of a core.\n")

    idle = load(d, "idle")
    if idle:
        print("| idle | value |\n|---|---|")
        for label in ("connections", "connect+hello rate", "server RSS per connection",
                      "server CPU while holding", "other server processes CPU"):
            print(f"| {label} | {log_value(d, 'idle', label)} |")
        print()

    print("| 1:1 ramp | |\n|---|---|")
    for label in ("max sustained rate", "max rate with p99 <= 15 ms"):
        print(f"| {label} | {log_value(d, 'ramp', label)} |")
    print()

    print(f"1:1 at {rate} msg/s (half the ramp's maximum), each run:\n")
    print("| run | delivered msg/s | ack p50 / p99 ms | send→receive p50 / p99 ms | "
          "ferryd µs/msg | all processes µs/msg |")
    print("|---|---|---|---|---|---|")
    for kind in ("half", "pg-local", "sqlite"):
        for r in (1, 2, 3):
            name = f"{kind}-{r}"
            if not text(d, name + ".log"):
                continue
            ack = p50_p99(log_value(d, name, "ack latency (send->ok)"))
            e2e = p50_p99(log_value(d, name, "end-to-end (send->recv)"))
            cpu = numbers(log_value(d, name, "server CPU"))
            allp = numbers(log_value(d, name, "all server processes CPU"))
            print(f"| {name} | {log_value(d, name, 'delivered msgs/s')} | "
                  f"{ack} | {e2e} | "
                  f"{cpu[1] if len(cpu) > 1 else '-'} | {allp[1] if len(allp) > 1 else '-'} |")
    print()

    print("Per message over each measurement window (hooks: `bench/redis-calls`, "
          "`bench/pg-stats`, `bench/cpu-of`):\n")
    print("| run | SPUBLISH | PG commits | PG rows | PG WAL bytes | ferryd CPU µs | "
          "PostgreSQL CPU µs | Redis CPU µs | HAProxy CPU µs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ("half-1", "half-2", "half-3", "pg-local-1", "pg-local-2", "pg-local-3",
                 "group-10", "group-30"):
        if not text(d, name + ".log"):
            continue
        sent = numbers(log_value(d, name, "chats / rate"))
        r = numbers(log_value(d, name, "delivered msgs/s"))
        w = window_stats(d, name, r[0] if r else 0)

        def f(k, fmt="{:.2f}"):
            return fmt.format(w[k]) if k in w else "-"
        local = name.startswith("pg-local")  # the cluster's nodes and Redis idle then
        print(f"| {name} | {f('spublish')} | {f('commits')} | {f('rows')} | {f('wal', '{:.0f}')} | "
              f"{'-' if local else f('cpu_ferryd', '{:.0f}')} | {f('cpu_pg', '{:.0f}')} | "
              f"{'-' if local else f('cpu_redis', '{:.0f}')} | {'-' if local else f('cpu_haproxy', '{:.0f}')} |")
    print()

    print("| groups | delivered msgs/s | deliveries/s | send→each p50 / p99 ms | "
          "ferryd µs/delivery | all processes µs/delivery |")
    print("|---|---|---|---|---|---|")
    for size in (10, 30):
        name = f"group-{size}"
        if not text(d, name + ".log"):
            continue
        e2e = p50_p99(log_value(d, name, "end-to-end (send->each)"))
        cpu = numbers(log_value(d, name, "server CPU"))
        allp = numbers(log_value(d, name, "all server processes CPU"))
        print(f"| {size} members | {log_value(d, name, 'delivered msgs/s')} | "
              f"{log_value(d, name, 'fan-out deliveries/s')} | "
              f"{e2e} | "
              f"{cpu[2] if len(cpu) > 2 else '-'} | {allp[2] if len(allp) > 2 else '-'} |")


if __name__ == "__main__":
    main()
