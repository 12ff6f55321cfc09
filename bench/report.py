#!/usr/bin/env python3
"""Turns one bench/run results directory into docs/benchmarks.md and plots.

Reads RESULTS/<name>.json (one per ferry-bench run, named by bench/run:
idle-<N>-<r>, direct-ramp, direct-<pct>-<r> and direct-8000-<r>, group-ramp,
offline, reconnect; null-idle-<N>-<r>, null-direct-<pct>-<r>,
null-direct-8000-<r> and null-group-ramp are the same runs against
ferry-null, the floor)
and RESULTS/commands.txt (name TAB command line). Writes the document, and
PNG plots made with gnuplot into --img-dir (their data and gnuplot scripts
stay in RESULTS/plots/, or --plot-data, for reproduction). A figure repeated over runs is
shown as the median, with every run listed beside it. bench/analysis.md is
included verbatim: the hand-written part lives there, not here.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess

KIB = 1024.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--results", required=True)
    p.add_argument("--doc", required=True)
    p.add_argument("--img-dir", required=True)
    p.add_argument("--plot-data", help="where the plots' data and gnuplot scripts go (RESULTS/plots)")
    p.add_argument("--build", default="build/release")
    p.add_argument("--elapsed", type=int, default=0, help="seconds the runs took")
    return p.parse_args()


# ---- input ----

def load_runs(results):
    """name -> parsed JSON of every run that left one."""
    runs = {}
    for f in sorted(os.listdir(results)):
        if f.endswith(".json"):
            try:
                with open(os.path.join(results, f)) as fh:
                    runs[f[:-5]] = json.load(fh)
            except (OSError, ValueError):
                pass  # a crashed run: listed as failed below
    return runs


def load_commands(results):
    """[(name, command line)] in the order bench/run ran them."""
    path = os.path.join(results, "commands.txt")
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [tuple(line.rstrip("\n").split("\t", 1)) for line in fh if "\t" in line]


def numbered(runs, prefix):
    """The runs named PREFIX-<r>, in run order."""
    pat = re.compile(re.escape(prefix) + r"-(\d+)$")
    found = [(int(m.group(1)), v) for k, v in runs.items() if (m := pat.match(k))]
    return [v for _, v in sorted(found, key=lambda x: x[0])]


def res(run):
    return run.get("results", {}) if run else {}


# ---- formatting ----

def num(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def ms(us, digits=2):
    return "–" if us is None else f"{us / 1000.0:.{digits}f}"


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def clean(runs):
    """The runs that finished without errors: the ones medians are taken over."""
    return [r for r in runs if r and r.get("errors", 0) == 0]


def with_runs(runs, get, digits=0, scale=1.0):
    """Two cells: the median of get(results) over the clean runs, and every
    run's value (✗: the run had errors and is left out of the median)."""
    value = lambda run: None if get(res(run)) is None else get(res(run)) * scale
    cells = [num(value(r), digits) + ("" if r in clean(runs) else " ✗") for r in runs]
    return [num(median([value(r) for r in clean(runs)]), digits), " · ".join(cells)]


def pct_text(lat):
    """p50 / p99 / p99.9 / max in ms."""
    if not lat or not lat.get("count"):
        return "–"
    return " / ".join(ms(lat.get(k)) for k in ("p50", "p99", "p99_9", "max"))


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def errors_note(runs):
    bad = sum(r.get("errors", 0) for r in runs if r)
    return "0" if bad == 0 else f"**{bad}** (see the logs)"


# ---- machine ----

def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def read_first(path, pattern):
    try:
        with open(path) as fh:
            for line in fh:
                m = re.match(pattern, line)
                if m:
                    return m.group(1).strip()
    except OSError:
        pass
    return "unknown"


def measured_commit(results):
    """The commit the runs measured, as bench/run recorded it before running."""
    try:
        with open(os.path.join(results, "commit.txt"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "unknown (no commit.txt in the results)"


def machine_section(build, results):
    cpu = read_first("/proc/cpuinfo", r"model name\s*:\s*(.*)")
    mem_kb = read_first("/proc/meminfo", r"MemTotal:\s*(\d+)")
    mem = f"{int(mem_kb) / KIB / KIB:.1f} GiB" if mem_kb.isdigit() else "unknown"
    osname = read_first("/etc/os-release", r'PRETTY_NAME="?([^"]*)"?')
    commit = measured_commit(results)
    return "\n".join([
        f"- {os.cpu_count()} cores: {cpu}; {mem} RAM; {osname}, kernel {sh('uname', '-r')}",
        f"- git commit {commit}; ferryd, ferry-null and ferry-bench built RelWithDebInfo in `{build}`",
        "- ferryd is started by ferry-bench for each run (fresh temp data dir, "
        "`--password-cost min` so account setup is quick; `--behind-l4-proxy --limit all=off "
        "--max-unauthenticated 1000000`, since the generator is every user from one address and "
        "the abuse limits would measure themselves), pinned to CPU 0; the generator "
        "is pinned to CPU 1 (`--server-cpus 0 --bench-cpus 1`). Everything runs over loopback.",
        "- ferry-null, the floor (see \"The floor\"), is started the same way in its runs.",
    ])


# ---- plots ----

def gnuplot(plots, img_dir, name, script, data):
    """Writes PLOTS/NAME.{dat,gp}, renders IMG_DIR/NAME.png; returns its path or None."""
    os.makedirs(plots, exist_ok=True)
    os.makedirs(img_dir, exist_ok=True)
    dat, gp, png = (os.path.join(plots, name + ".dat"), os.path.join(plots, name + ".gp"),
                    os.path.join(img_dir, name + ".png"))
    with open(dat, "w") as fh:
        fh.write("\n".join(" ".join(str(c) for c in row) for row in data) + "\n")
    with open(gp, "w") as fh:
        fh.write(f"set terminal pngcairo size 900,540 font ',11'\nset output '{png}'\n"
                 f"set key top left\nset grid\n{script.format(dat=dat)}\n")
    try:
        subprocess.run(["gnuplot", gp], check=True, capture_output=True)
        return png
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report: gnuplot failed for {name}: {e}")
        return None


def latency_plot(plots, img_dir, name, ramp, title, x_label, x_scale):
    steps = sorted(res(ramp).get("steps", []), key=lambda s: s["rate"])
    if not steps:
        return None
    rows = []
    for s in steps:
        e2e, ack = s["endToEndLatencyUs"], s["ackLatencyUs"]
        rows.append([s["rate"] * x_scale] + [max(v, 1) / 1000.0 for v in
                    (e2e["p50"], e2e["p99"], e2e["p99_9"], ack["p99"])])
    script = (f"set title '{title}'\nset xlabel '{x_label}'\nset ylabel 'latency (ms, log scale)'\n"
              "set logscale y\n"
              "plot '{dat}' u 1:2 w lp t 'send→receive p50', '' u 1:3 w lp t 'send→receive p99', "
              "'' u 1:4 w lp t 'send→receive p99.9', '' u 1:5 w lp dt 2 t 'send→ok (ack) p99', "
              "15 w l lc rgb 'gray' dt 3 t '15 ms'")
    return gnuplot(plots, img_dir, name, script, rows)


def rss_plot(plots, img_dir, idle_by_n):
    rows = []
    for n, runs in idle_by_n:
        held = median([res(r).get("serverRssHeldKb") for r in clean(runs)])
        before = median([res(r).get("serverRssBeforeKb") for r in clean(runs)])
        if held is not None and before is not None:
            rows.append([n, held / KIB, (before + n * 2) / KIB])
    if not rows:
        return None
    script = ("set title 'ferryd RSS with N idle authenticated connections (median of runs)'\n"
              "set xlabel 'connections'\nset ylabel 'RSS (MiB)'\nset yrange [0:*]\n"
              "plot '{dat}' u 1:2 w lp pt 7 t 'measured', '' u 1:3 w l dt 2 t 'target: 2 KiB per connection'")
    return gnuplot(plots, img_dir, "bench-idle-rss", script, rows)


def image(doc, png, alt):
    if not png:
        return "(plot not available: gnuplot failed)"
    return f"![{alt}]({os.path.relpath(png, os.path.dirname(os.path.abspath(doc)))})"


# ---- sections ----

def idle_section(doc, idle_by_n, null_idle, png):
    rows = []
    labelled = [(num(n), runs) for n, runs in idle_by_n] + \
        [(f"{num(n)}: the floor (ferry-null)", runs) for n, runs in null_idle]
    for label, runs in labelled:
        rows.append([label, *with_runs(runs, lambda r: r.get("connectPerSecond")),
                     with_runs(runs, lambda r: r.get("serverCpuPerConnectUs"))[0],
                     with_runs(runs, lambda r: r.get("benchCpuConnectPercent"))[0],
                     *with_runs(runs, lambda r: r.get("serverRssPerConnectionBytes"), 2, 1 / KIB),
                     *with_runs(runs, lambda r: r.get("serverRssHeldKb"), 1, 1 / KIB)[:1], errors_note(runs)])
    return "\n\n".join([
        "## Idle connections",
        "N authenticated WebSockets (`hello` done) held for 5 s; RSS is read from "
        "`/proc/PID/status` before connecting and at the end of the hold. The 19,500 run uses "
        "one generator process. Server CPU per connect is ferryd's CPU (10 ms ticks) over the "
        "connect phase divided by the hellos: TCP connect, HTTP upgrade and `hello`; the generator's "
        "is its own CPU over that phase, as a share of its core. The last row is the same run against "
        "ferry-null (see \"The floor\"): accounts in memory, nothing stored at `hello`.",
        table(["connections", "connect+hello /s (median)", "runs", "server CPU µs per connect (median)",
               "generator CPU % (median)", "RSS per connection KiB (median)",
               "runs", "server RSS held MiB", "errors"], rows),
        image(doc, png, "server RSS vs connections"),
    ])


def ramp_table(ramp, fanout):
    rows = []
    for i, s in enumerate(res(ramp).get("steps", []), 1):
        rate = num(s["rate"]) + (f" ({num(s['rate'] * fanout)} deliveries)" if fanout > 1 else "")
        done = num(s["deliveredPerSecond"]) + (f" ({num(s['deliveriesPerSecond'])})" if fanout > 1 else "")
        cpu = num(s.get("serverCpuUsPerMessage"), 1)
        if fanout > 1:
            cpu += f" ({num(s.get('serverCpuUsPerDelivery'), 2)})"
        rows.append([i, rate, done, pct_text(s["ackLatencyUs"]), pct_text(s["endToEndLatencyUs"]), cpu,
                     "yes" if s.get("sustained") else "no: " + s.get("unsustained", "")])
    group = " (deliveries/s)" if fanout > 1 else ""
    return table(["step", "offered msg/s", "delivered msg/s" + group, "ack p50 / p99 / p99.9 / max ms",
                  "send→receive p50 / p99 / p99.9 / max ms",
                  "server CPU µs/msg" + (" (µs/delivery)" if fanout > 1 else ""), "sustained"], rows)


def ramp_summary(ramp):
    r = res(ramp)
    fanout = r.get("groupSize", 2) - 1
    best = f"**{num(r.get('maxSustainedRate'))} msg/s**"
    if fanout > 1:
        best = f"**{num(r.get('maxSustainedDeliveriesPerSecond'))} deliveries/s** ({num(r.get('maxSustainedRate'))} msg/s)"
    return (f"Max sustained: {best}; highest rate with ack and send→receive p99 ≤ 15 ms: "
            f"**{num(r.get('maxRateP99Within15ms'))} msg/s**. The ramp stopped: {r.get('stopReason', '–')}. "
            f"Errors: {errors_note([ramp])}.")


def direct_ramp_section(doc, ramp, png):
    if not ramp:
        return "## 1:1 messages: rate ramp\n\n(no results)"
    return "\n\n".join([
        "## 1:1 messages: rate ramp",
        "200 pairs of users (400 connections); message k is due at t0 + k/R (open loop) and both "
        "latencies are measured from its due time. Each step is a fresh 1 s warmup + 3 s window on "
        "the same connections, then up to 10 s for the last acks and deliveries. A step is "
        "*sustained* when every message is acked and delivered, deliveries during the window reach "
        "95% of those offered, p99 ≤ 500 ms and the generator keeps up; the ramp grows the rate "
        "×1.5 until a step is not, then bisects twice between the last sustained and that rate.",
        ramp_table(ramp, 1), ramp_summary(ramp), image(doc, png, "1:1 latency vs offered rate"),
    ])


def fixed_rows(runs):
    field = lambda key: lambda r: r.get(key)
    lat = lambda key, p: lambda r: r.get(key, {}).get(p)
    return [
        ["offered msg/s", *with_runs(runs, field("rate"))],
        ["delivered msg/s", *with_runs(runs, field("deliveredPerSecond"))],
        ["send→receive p50 ms", *with_runs(runs, lat("endToEndLatencyUs", "p50"), 2, 1e-3)],
        ["send→receive p99 ms", *with_runs(runs, lat("endToEndLatencyUs", "p99"), 2, 1e-3)],
        ["send→receive p99.9 ms", *with_runs(runs, lat("endToEndLatencyUs", "p99_9"), 2, 1e-3)],
        ["ack (send→ok) p50 ms", *with_runs(runs, lat("ackLatencyUs", "p50"), 2, 1e-3)],
        ["ack (send→ok) p99 ms", *with_runs(runs, lat("ackLatencyUs", "p99"), 2, 1e-3)],
        ["server CPU µs per message", *with_runs(runs, field("serverCpuUsPerMessage"), 1)],
        ["lost acks + deliveries", *with_runs(runs, lambda r: r.get("lostAcks", 0) + r.get("lostDeliveries", 0))],
        ["errors", errors_note(runs), ""],
    ]


def direct_fixed_section(fixed, fixed_8000):
    parts = ["## 1:1 messages at fixed rates",
             "The same 200 pairs, 2 s warmup + 5 s window, at half and at 90% of the ramp's max "
             "sustained rate, and at 8,000 msg/s whatever the ramp found; a fresh ferryd per run."]
    for pct, runs in fixed:
        if runs:
            parts += [f"### {pct}% of the max rate", table(["figure", "median", "runs"], fixed_rows(runs))]
    if len(parts) == 2:
        parts.append("(not run at 50% and 90%: the ramp found no sustained rate)")
    if fixed_8000:
        parts += ["### 8,000 msg/s", table(["figure", "median", "runs"], fixed_rows(fixed_8000))]
    return "\n\n".join(parts)


# ---- the floor ----

def generator_cpu_pct(r):
    """The generator's CPU over the window, % of a core (older runs: from its seconds)."""
    if r.get("generatorCpuPercent") is not None:
        return r["generatorCpuPercent"]
    seconds, window = r.get("generatorCpuSeconds"), r.get("windowSeconds") or r.get("durationSeconds")
    return None if seconds is None or not window else 100.0 * seconds / window


def median_of(runs, get):
    """The median of get(results) over the clean runs, or None."""
    return median([get(res(r)) for r in clean(runs)])


def ratio(a, b):
    return None if a is None or not b else a / b


def pair(a, b, digits=0, scale=1.0):
    """One cell: "ferryd · floor"."""
    sc = lambda v: None if v is None else v * scale
    return f"{num(sc(a), digits)} · {num(sc(b), digits)}"


def floor_pairs(pairs):
    """Rows of the 1:1 floor table, one per (label, ferryd runs, floor runs)."""
    cpu = lambda r: r.get("serverCpuUsPerMessage")
    rows = []
    for label, ferryd, null in pairs:
        if not ferryd and not null:
            continue
        fc, nc = median_of(ferryd, cpu), median_of(null, cpu)
        rate = median_of(ferryd + null, lambda r: r.get("rate"))
        get = lambda key, p: (lambda r: r.get(key, {}).get(p))
        rows.append([
            f"{label}: {num(rate)}", num(fc, 1), num(nc, 1), f"**{num(ratio(fc, nc), 1)}×**",
            pair(median_of(ferryd, lambda r: r.get("deliveredPerSecond")),
                 median_of(null, lambda r: r.get("deliveredPerSecond"))),
            pair(median_of(ferryd, get("endToEndLatencyUs", "p99")),
                 median_of(null, get("endToEndLatencyUs", "p99")), 2, 1e-3),
            pair(median_of(ferryd, generator_cpu_pct), median_of(null, generator_cpu_pct)),
            pair(median_of(ferryd, get("sendLagUs", "p99")), median_of(null, get("sendLagUs", "p99")),
                 2, 1e-3),
            f"{len(clean(ferryd))}/{len(ferryd)} · {len(clean(null))}/{len(null)}",
        ])
    return rows


def group_floor_rows(ferryd_ramp, null_ramp):
    """The two group ramps' steps at the rates both took, by rate."""
    steps = lambda ramp: {round(s["rate"]): s for s in res(ramp).get("steps", [])}
    ours, floor = steps(ferryd_ramp), steps(null_ramp)
    rows = []
    for rate in sorted(set(ours) & set(floor)):
        f, n = ours[rate], floor[rate]
        fc, nc = f.get("serverCpuUsPerDelivery"), n.get("serverCpuUsPerDelivery")
        yes = lambda s: "yes" if s.get("sustained") else "no"
        rows.append([num(rate), num(fc, 2), num(nc, 2), f"**{num(ratio(fc, nc), 1)}×**",
                     pair(f.get("deliveriesPerSecond"), n.get("deliveriesPerSecond")),
                     pair(f["endToEndLatencyUs"].get("p99"), n["endToEndLatencyUs"].get("p99"), 2, 1e-3),
                     pair(generator_cpu_pct(f), generator_cpu_pct(n)),
                     f"{yes(f)} · {yes(n)}"])
    return rows


def floor_section(pairs, ferryd_group, null_group):
    parts = [
        "## The floor",
        "ferry-null (`apps/ferry-null`) speaks the part of the protocol these scenarios use, with "
        "ferryd's wire codec, WebSocket framing (net/ws_codec) and session shape, and nothing else: "
        "accounts, chats and inboxes "
        "in memory, nothing durable, no password hashing, one thread. Its CPU per message is what "
        "moving a message over WebSockets costs at least on this machine; ferryd's as a multiple "
        "of it is what the service, the store and durability add. Each ferryd run below was "
        "followed by the same run against ferry-null (same rate, same generator, same pinning). "
        "Cells are \"ferryd · floor\", medians of the runs without errors; the generator's CPU "
        "and send lag show whether the generator kept up (it has one core of its own).",
    ]
    rows = floor_pairs(pairs)
    if rows:
        parts.append(table(["1:1 msg/s", "ferryd CPU µs/msg", "floor CPU µs/msg", "ferryd ÷ floor",
                            "delivered msg/s", "send→receive p99 ms", "generator CPU %",
                            "generator send lag p99 ms", "clean runs"], rows))
    else:
        parts.append("(no 1:1 floor runs)")
    if ferryd_group and null_group:
        g = group_floor_rows(ferryd_group, null_group)
        parts += [
            "Groups of 100: the steps of the two group ramps at the rates both ran (server CPU per "
            "delivery).",
            table(["msg/s", "ferryd CPU µs/delivery", "floor CPU µs/delivery", "ferryd ÷ floor",
                   "deliveries/s", "send→receive p99 ms", "generator CPU %", "sustained"], g)
            if g else "(no common steps)",
            f"Max sustained: ferryd {num(res(ferryd_group).get('maxSustainedDeliveriesPerSecond'))} "
            f"deliveries/s, floor {num(res(null_group).get('maxSustainedDeliveriesPerSecond'))} "
            f"deliveries/s (the floor's ramp stopped: {res(null_group).get('stopReason', '–')}).",
        ]
    return "\n\n".join(parts)


def group_section(doc, ramp, png):
    if not ramp:
        return "## Group fan-out\n\n(no results)"
    r = res(ramp)
    return "\n\n".join([
        "## Group fan-out (chats of 100)",
        f"{num(r.get('chats'))} chats of {r.get('groupSize')} members ({num(r.get('connections'))} "
        "connections); every member sends in turn into its chat, each message is delivered to the 99 "
        "others, who ack every entry. Send→receive latency is over all deliveries. Same ramp rules as "
        "the 1:1 ramp, rates in messages/s (deliveries/s = 99 × that).",
        ramp_table(ramp, r.get("groupSize", 100) - 1),
        ramp_summary(ramp),
        image(doc, png, "group latency vs offered rate"),
    ])


def offline_section(run):
    if not run:
        return "## Offline drain\n\n(no results)"
    r = res(run)
    def cpu_us(x):  # server CPU per entry; older results have none
        c = x.get("serverCpuMs", -1)
        return num(1000.0 * c / r["pending"], 2) if c is not None and c >= 0 else "–"

    def bench_pct(x):
        return num(100.0 * x["benchCpuMs"] / x["ackedMs"]) if "benchCpuMs" in x and x["ackedMs"] else "–"

    rows = [[i, num(x["helloMs"], 1), num(x["receivedMs"], 1), num(x["ackedMs"], 1), num(x["entriesPerSecond"]),
             cpu_us(x), bench_pct(x)]
            for i, x in enumerate(r.get("runs", []), 1)]
    rows.append(["**median**", num(r.get("medianHelloMs"), 1), num(r.get("medianReceivedMs"), 1),
                 f"**{num(r.get('medianAckedMs'), 1)}**", "", num(r.get("medianServerCpuUsPerEntry"), 2),
                 num(r.get("medianBenchCpuPercent"))])
    return "\n\n".join([
        "## Offline drain",
        f"Another user sends {num(r.get('pending'))} messages into a 1:1 chat while the recipient "
        "is offline (every send acknowledged, i.e. durable); then the recipient connects, receives "
        "and acks every entry as it arrives, and acks the last one with an `id`, whose `ok` comes "
        "once the server has committed the deletion. Times from the start of the connect; fresh "
        "users per run. Server CPU is ferryd's threads' run time (`/proc/PID/task/*/schedstat`) over "
        "the same span, per entry; the generator's is its own CPU over that span, as a share of its core.",
        table(["run", "hello ok ms", f"all {num(r.get('pending'))} received ms", "last ack committed ms",
               "entries/s", "server CPU µs/entry", "generator CPU %"], rows),
        f"Errors: {errors_note([run])}.",
    ])


def reconnect_section(run):
    if not run:
        return "## Reconnect storm\n\n(no results)"
    r = res(run)
    rows = [[i, num(c["back"]), num(c["backSeconds"], 2), num(c["caughtUp"]), num(c["caughtUpSeconds"], 2),
             ms(c["caughtUpLatencyUs"].get("p50")), c["failures"]] for i, c in enumerate(r.get("cycles", []), 1)]
    return "\n\n".join([
        "## Reconnect storm",
        f"{num(r.get('members'))} clients in chats of 100, each chat with one extra sender client "
        f"({num(r.get('senders'))} senders), spread over {r.get('procs')} generator processes. All "
        "clients drop at once (TCP reset, no close frame); each sender then sends one message (acked, "
        "so durable) while its members are away; once ferryd's `ferry_connections` gauge shows every "
        "drop noticed, all clients reconnect at once (at most 256 connects in flight per process) with "
        "`hello after=<last seq>`. *Caught up* = the missed message received. Times from the common "
        "start of the reconnect.",
        table(["cycle", "back (hello ok)", "all back s", "caught up", "all caught up s", "caught up p50 ms",
               "failures"], rows),
        f"Median time until all are back and caught up: **{num(r.get('medianCaughtUpSeconds'), 2)} s**. "
        f"Errors: {errors_note([run])}.",
    ])


# ---- targets ----

def verdict(value, ok):
    if value is None:
        return "not measured"
    return "**met**" if ok(value) else "**not met**"


def targets_section(runs, idle_by_n, fixed, null_fixed, fixed_8000, null_8000):
    biggest = idle_by_n[-1] if idle_by_n else (0, [])
    big_res = [res(r) for r in clean(biggest[1])]
    # Held by one process without an error in every run: met at that size.
    idle_ok = bool(biggest[1]) and len(big_res) == len(biggest[1]) and \
        all(r.get("hellos") == biggest[0] for r in big_res)
    idle_n = biggest[0] if idle_ok else None
    rss = median([r.get("serverRssPerConnectionBytes") for r in big_res])
    connect = median([r.get("connectPerSecond") for r in big_res])
    direct = res(runs.get("direct-ramp")).get("maxSustainedRate")
    fixed_by = dict(fixed)
    half = [res(r) for r in clean(fixed_by.get(50, []))]
    ninety = [res(r) for r in clean(fixed_by.get(90, []))]
    med = lambda rr, key, p: median([r.get(key, {}).get(p) for r in rr])
    cpu = median([r.get("serverCpuUsPerMessage") for r in ninety])
    null_cpu = median_of(dict(null_fixed).get(90, []), lambda r: r.get("serverCpuUsPerMessage"))
    over_floor = ratio(cpu, null_cpu)
    cpu_8000 = median_of(fixed_8000, lambda r: r.get("serverCpuUsPerMessage"))
    null_8000_cpu = median_of(null_8000, lambda r: r.get("serverCpuUsPerMessage"))
    over_floor_8000 = ratio(cpu_8000, null_8000_cpu)
    good = res(runs.get("direct-ramp")).get("maxRateP99Within15ms")
    h50, h99 = med(half, "endToEndLatencyUs", "p50"), med(half, "endToEndLatencyUs", "p99")
    hack = med(half, "ackLatencyUs", "p99")
    n99 = med(ninety, "endToEndLatencyUs", "p99")
    group = res(runs.get("group-ramp")).get("maxSustainedDeliveriesPerSecond")
    offline = res(runs.get("offline")).get("medianAckedMs")
    rc = res(runs.get("reconnect"))
    rc_s = rc.get("medianCaughtUpSeconds")
    rc_fail = sum(c.get("failures", 0) for c in rc.get("cycles", [])) + runs.get("reconnect", {}).get("errors", 0) \
        if rc else None
    ms_of = lambda us: None if us is None else us / 1000.0
    rows = [
        ["idle connections per process", "≥ 19,500", num(idle_n) if idle_n else "–",
         verdict(idle_n, lambda v: v >= 19500)],
        ["RSS per idle connection", "≤ 2 KiB", f"{num(rss / KIB if rss else None, 2)} KiB",
         verdict(rss, lambda v: v <= 2 * KIB)],
        ["connect + hello", "≥ 20,000 /s", f"{num(connect)} /s", verdict(connect, lambda v: v >= 20000)],
        ["server CPU per durable 1:1 message at 8,000 msg/s", "≤ 2× the floor's",
         f"{num(over_floor_8000, 1)}× ({num(cpu_8000, 1)} µs vs {num(null_8000_cpu, 1)} µs)",
         verdict(over_floor_8000, lambda v: v <= 2)],
        ["the same at 90% of the max rate", "≤ 2× the floor's",
         f"{num(over_floor, 1)}× ({num(cpu, 1)} µs vs {num(null_cpu, 1)} µs)",
         verdict(over_floor, lambda v: v <= 2)],
        ["highest 1:1 rate with p99 ≤ 15 ms (ramp)", "≥ 20,000 /s", f"{num(good)} /s",
         verdict(good, lambda v: v >= 20000)],
        ["highest 1:1 rate with p99 ≤ 500 ms (ramp's max)", "–", f"{num(direct)} /s", ""],
        ["at half the max rate: send→receive p50", "≤ 2 ms", f"{ms(h50)} ms", verdict(ms_of(h50), lambda v: v <= 2)],
        ["at half the max rate: send→receive p99", "≤ 15 ms", f"{ms(h99)} ms", verdict(ms_of(h99), lambda v: v <= 15)],
        ["at half the max rate: ack p99", "≤ 15 ms", f"{ms(hack)} ms", verdict(ms_of(hack), lambda v: v <= 15)],
        ["at 90% of the max rate: send→receive p99", "≤ 50 ms", f"{ms(n99)} ms", verdict(ms_of(n99), lambda v: v <= 50)],
        ["100-member group fan-out", "≥ 200,000 deliveries/s", f"{num(group)} /s",
         verdict(group, lambda v: v >= 200000)],
        ["offline drain of 10,000 entries", "≤ 50 ms", f"{num(offline, 0)} ms", verdict(offline, lambda v: v <= 50)],
        [f"reconnect storm: {num(rc.get('members'))} back and caught up", "≤ 5 s, 0 failures",
         f"{num(rc_s, 2)} s, {rc_fail if rc_fail is not None else '–'} failures",
         verdict(rc_s, lambda v: v <= 5 and rc_fail == 0 and rc.get("members", 0) >= 19000)],
    ]
    return "\n\n".join([
        "## Targets",
        "Medians of the runs below. \"Max rate\" is the 1:1 ramp's max sustained rate; the idle "
        "figures are those of the largest idle run.",
        table(["target", "goal", "measured", ""], rows),
    ])


def commands_section(commands, results):
    lines = [f"# {name}\n{cmd}" for name, cmd in commands]
    return "\n\n".join([
        "## Commands",
        f"Every run, exactly as `bench/run` started it (JSON and log of each in `{results}/`):",
        "```sh\n" + "\n".join(lines) + "\n```",
    ])


def included(file_name, missing_title):
    """A hand-written Markdown file beside this script, included verbatim:
    analysis.md (what limits the figures) and cluster.md (bench/cluster's
    report, from its own command and results)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), file_name)
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return f"## {missing_title}\n\n(bench/{file_name} is missing)"


# ---- main ----

def main():
    a = parse_args()
    runs = load_runs(a.results)
    commands = load_commands(a.results)
    sizes = sorted({int(m.group(1)) for k in runs if (m := re.match(r"idle-(\d+)-\d+$", k))})
    idle_by_n = [(n, numbered(runs, f"idle-{n}")) for n in sizes]
    null_sizes = sorted({int(m.group(1)) for k in runs if (m := re.match(r"null-idle-(\d+)-\d+$", k))})
    null_idle = [(n, numbered(runs, f"null-idle-{n}")) for n in null_sizes]
    fixed = [(pct, numbered(runs, f"direct-{pct}")) for pct in (50, 90)]
    null_fixed = [(pct, numbered(runs, f"null-direct-{pct}")) for pct in (50, 90)]
    fixed_8000, null_8000 = numbered(runs, "direct-8000"), numbered(runs, "null-direct-8000")
    floor_runs = [(f"{pct}% of max", f, n) for (pct, f), (_, n) in zip(fixed, null_fixed)] + \
        [("fixed", fixed_8000, null_8000)]
    failed = [name for name, _ in commands if name not in runs or runs[name].get("errors", 0)]

    plots = a.plot_data or os.path.join(a.results, "plots")
    rss_png = rss_plot(plots, a.img_dir, idle_by_n)
    direct_png = latency_plot(plots, a.img_dir, "bench-direct-latency", runs.get("direct-ramp"),
                              "1:1 messages: latency vs offered rate (ramp)", "offered messages/s", 1)
    group_png = latency_plot(plots, a.img_dir, "bench-group-latency", runs.get("group-ramp"),
                             "100-member groups: latency vs offered rate (ramp)", "offered deliveries/s",
                             res(runs.get("group-ramp")).get("groupSize", 100) - 1)

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = "\n\n".join([
        "# Benchmarks",
        f"Generated by `bench/run` on {when} ({a.elapsed // 60} min {a.elapsed % 60} s of runs). Do not "
        "edit by hand: rerun `bench/run`. The analysis section is `bench/analysis.md`, and the cluster "
        "section `bench/cluster.md` (from `bench/cluster`), both included verbatim.",
        "**Runs with errors: " + ", ".join(failed) + "**" if failed else "Every run finished with 0 errors.",
        "## Machine and method",
        machine_section(a.build, a.results),
        "Sending is open loop: message k is due at t0 + k/R whatever happened to earlier ones, and "
        "latencies are measured from the due time, so a stalled server cannot hide its delay "
        "(coordinated omission). Every recipient acks each entry as it arrives, as a real client does. "
        "Latencies are kept in an HdrHistogram-style histogram (< 1% error).",
    ])
    doc = "\n\n".join([
        header,
        targets_section(runs, idle_by_n, fixed, null_fixed, fixed_8000, null_8000),
        included("analysis.md", "What limits it"),
        idle_section(a.doc, idle_by_n, null_idle, rss_png),
        direct_ramp_section(a.doc, runs.get("direct-ramp"), direct_png),
        direct_fixed_section(fixed, fixed_8000),
        group_section(a.doc, runs.get("group-ramp"), group_png),
        floor_section(floor_runs, runs.get("group-ramp"), runs.get("null-group-ramp")),
        offline_section(runs.get("offline")),
        reconnect_section(runs.get("reconnect")),
        included("cluster.md", "Cluster"),
        commands_section(commands, a.results),
    ]) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.doc)), exist_ok=True)
    with open(a.doc, "w") as fh:
        fh.write(doc)


if __name__ == "__main__":
    main()
