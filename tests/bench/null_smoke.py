#!/usr/bin/env python3
"""bench_null_smoke: ferry-bench's smoke set against ferry-null, the floor.

bench/run measures ferry-null beside ferryd; this checks that it still can:
every scenario of `ferry-bench smoke` runs against it without an error, and
the 1:1 and group runs deliver every message they sent (ferry-bench counts a
missing delivery as an error too; the checks below say so by name, and make
sure something was sent at all). Exit status 0 when all holds, 1 otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bench", required=True, help="ferry-bench")
    p.add_argument("--server", required=True, help="ferry-null")
    a = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="null-smoke-") as tmp:
        out = os.path.join(tmp, "smoke.json")
        try:
            run = subprocess.run([a.bench, "smoke", "--ferryd", a.server, "--json", out],
                                 capture_output=True, text=True, timeout=170)
        except subprocess.TimeoutExpired:
            print("FAIL: ferry-bench smoke did not finish within 170 s")
            return 1
        print(run.stdout[-6000:], run.stderr[-3000:], sep="\n")
        if not os.path.exists(out):
            print("FAIL: ferry-bench wrote no JSON")
            return 1
        with open(out) as fh:
            reports = json.load(fh)

    failures = []
    check = lambda ok, what: ok or failures.append(what)
    check(run.returncode == 0, f"ferry-bench smoke exited {run.returncode}")
    check(all(r["server"].get("program") == a.server for r in reports),
          "a report does not name ferry-null as the server")
    for r in reports:
        check(r["errors"] == 0, f"{r['scenario']}: {r['errors']} errors {r['errorSamples'][:3]}")
    traffic = [r for r in reports if r["scenario"] in ("direct", "group") and "steps" not in r["results"]]
    check({r["scenario"] for r in traffic} == {"direct", "group"}, "no fixed-rate direct and group run")
    for r in traffic:
        res = r["results"]
        name = r["scenario"]
        check(res["messagesDue"] > 0, f"{name}: no message due in the window")
        check(res["messagesDelivered"] == res["messagesDue"],
              f"{name}: {res['messagesDelivered']} of {res['messagesDue']} messages delivered")
        check(res["deliveredPerSecond"] > 0, f"{name}: nothing delivered per second")
        check(res["lostAcks"] == 0 and res["lostDeliveries"] == 0,
              f"{name}: {res['lostAcks']} acks and {res['lostDeliveries']} deliveries lost")
    for f in failures:
        print("FAIL:", f)
    print("bench_null_smoke:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
