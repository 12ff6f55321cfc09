#!/usr/bin/env python3
"""crash_soak: 1:1 and group traffic while ferryd is killed -9 and restarted.

Starts ferryd (--ferryd PATH) on a private temporary data dir, registers 28
users, logs in 37 clients (up to 3 devices per user), creates eight 1:1
chats, a group of 5 and one of all 28 (above the 25-member threshold, so it
has its own bus channel), then for --seconds (or --minutes) runs traffic:
every client sends with fresh clientMsgIds, resends with the same id when
the outcome is unknown, reads, acknowledges (sometimes late), drops its
connection or has it taken over by a new one now and then. Meanwhile ferryd
is killed with SIGKILL every 2-5 s (sometimes again while it starts up) and
restarted on the same data dir and port; the clients reconnect with
`hello after=lastSeq`.

Then traffic stops, every send is retried until ok'd, every client reads to
the head a `sync` reports and acks durably; ferryd is killed once more and
every chat gets one more message (seqs must go on from where they were, not
restart below), the clients settle again, and ferryd must exit cleanly on
SIGTERM. history.py checks what the clients saw. Prints a summary; exit
status 0 if there was no violation, 1 if there was, 2 if the harness could
not run (ferryd did not start, setup failed, time ran out).

--plant checker|datadir shows that the checker can fail: `checker` removes
one delivered entry from one client's recorded history before the check;
`datadir` makes ferry.db forget the last 3 entries of one client's inbox
(and lowers its head) while ferryd is down between two kills, as a store
that lost commits would. Either run must fail.

Run: /usr/bin/python3 tests/soak/soak.py --ferryd build/release/apps/ferryd/ferryd
     [--seconds 60 | --minutes 30] [--seed N] [--rate MSGS_PER_S] [--keep]
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import history  # noqa: E402
from ferryd_process import Ferryd, StartError  # noqa: E402
from history import Chat, History  # noqa: E402
from soak_client import Agent  # noqa: E402

PASSWORD = "soak-password-1"
CORE_DEVICES = [3, 2, 1, 3, 2, 1, 2, 3]  # users u00..u07: devices each
EXTRA_USERS = 20                         # u08..u27: one device, in the big group only
PAIRS = [(0, 1), (0, 2), (1, 2), (3, 4), (5, 6), (6, 7), (0, 7), (2, 5)]
SMALL_GROUP = 5                          # u00..u04
SETTLE_TIMEOUT = 120.0                   # s: upper bound of each settling step
FERRYD_ARGS = ["--heartbeat-interval", "5"]  # pings (and their head) often enough to matter


class SetupError(Exception):
    """The harness could not run (exit status 2)."""


class Aborted(Exception):
    """A violation that ends the run at once: ferryd cannot restart."""


def http(port, method, path, body):
    """(status, JSON body) of one request to ferryd; never via a proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class Soak:
    def __init__(self, args, work_dir):
        self.args = args
        self.rng = random.Random(args.seed)
        self.ferryd = Ferryd(args.ferryd, work_dir, FERRYD_ARGS + args.ferryd_arg)
        self.agents = []
        self.agent_tasks = []
        self.sends = []         # every history.Send of every agent
        self.chats = {}         # chatId -> history.Chat
        self.users = {}         # user -> [clientId]
        self.tasks = set()      # connection readers
        self.stopping = False
        self.stop_event = asyncio.Event()
        self.chaos_over = asyncio.Event()
        self.chaos = False      # kills, takeovers, voluntary disconnects
        self.traffic = False    # new sends
        self.settling = False
        self.violations = []    # seen while running (history.check adds the rest)
        self.closes = Counter()
        self.send_retries = Counter()
        self.planted = None
        self._strings = {}
        self.started = time.monotonic()
        self.harness_error = None  # a client task crashed: the soak's own bug
        self.clean_exit = False

    def intern(self, s):
        return self._strings.setdefault(s, s)

    def violation(self, text):
        self.violations.append(text)
        if len(self.violations) <= 20:
            self.say(f"VIOLATION {text}")

    def say(self, text):
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", flush=True)

    async def wait_until(self, condition, timeout, what):
        """Polls condition (every 20 ms) for at most timeout s; a timeout is
        a violation."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if self.harness_error:
                raise SetupError(self.harness_error)
            if asyncio.get_running_loop().time() > deadline:
                self.violation(f"timeout: {what} (waited {timeout:.0f} s)")
                return False
            await asyncio.sleep(0.02)
        return True

    # ---- phases ----

    async def run(self):
        await self.ferryd.start()
        self.say(f"ferryd listening on 127.0.0.1:{self.ferryd.port}, data in {self.ferryd.dir}")
        await self.setup()
        await self.traffic_phase()
        await self.settle("after the traffic")
        await self.restart_and_probe()
        await self.settle("after the probe round")
        await self.shutdown()

    async def setup(self):
        port = self.ferryd.port
        names = [f"u{i:02d}" for i in range(len(CORE_DEVICES) + EXTRA_USERS)]
        devices = CORE_DEVICES + [1] * EXTRA_USERS
        for user in names:
            status, body = await asyncio.to_thread(
                http, port, "POST", "/v1/register", {"user": user, "password": PASSWORD})
            if status != 201:
                raise SetupError(f"register {user}: {status} {body}")
        for i, (user, n) in enumerate(zip(names, devices)):
            self.users[user] = []
            for d in range(n):
                status, body = await asyncio.to_thread(
                    http, port, "POST", "/v1/login",
                    {"user": user, "password": PASSWORD, "device": f"d{d}"})
                if status != 200:
                    raise SetupError(f"login {user} d{d}: {status} {body}")
                weight = 1.0 if i < len(CORE_DEVICES) else 0.1
                agent = Agent(self, f"{user}.d{d}", user, body["token"], body["clientId"],
                              random.Random(self.rng.random()), weight)
                self.agents.append(agent)
                self.users[user].append(agent.client_id)
        self.agent_tasks = [asyncio.ensure_future(a.run()) for a in self.agents]
        for task in self.agent_tasks:
            task.add_done_callback(self.on_agent_done)
        if not await self.wait_until(lambda: all(a.connected() for a in self.agents), 30,
                                     "every client connected at setup"):
            raise SetupError("clients could not connect")

        specs = [[names[i], names[j]] for i, j in PAIRS]
        specs += [names[:SMALL_GROUP], names]
        for members in specs:
            creator = self.rng.choice([a for a in self.agents if a.user == members[0]])
            reply = await asyncio.wait_for(creator.conn.ask(
                {"type": "createChat", "members": members[1:], "name": f"{len(members)}"}), 30)
            if reply is None or reply.get("type") != "ok":
                raise SetupError(f"createChat {members}: {reply}")
            chat_id = reply["chatId"]
            self.chats[chat_id] = Chat(tuple(members), creator.client_id)
            weight = 4 if len(members) == 2 else 2 if len(members) <= SMALL_GROUP else 1
            for a in self.agents:
                if a.user in members:
                    a.chats += [chat_id] * weight
        self.say(f"{len(self.users)} users, {len(self.agents)} clients, {len(self.chats)} chats")

    async def traffic_phase(self):
        seconds = self.args.seconds
        self.say(f"traffic for {seconds:.0f} s at about {self.args.rate} messages/s, "
                 f"ferryd killed every {self.args.kill_min}-{self.args.kill_max} s")
        self.traffic = self.chaos = True
        total = sum(a.send_weight for a in self.agents)
        senders = [asyncio.ensure_future(a.send_loop(self.args.rate * a.send_weight / total))
                   for a in self.agents]
        killer = asyncio.ensure_future(self.killer())
        end = asyncio.get_running_loop().time() + seconds
        every = max(10.0, seconds / 20)
        while (left := end - asyncio.get_running_loop().time()) > 0:
            await asyncio.wait({killer}, timeout=min(every, left))  # the soak's length
            if killer.done():
                killer.result()  # raises what stopped it (Aborted)
            if self.harness_error:
                raise SetupError(self.harness_error)
            self.progress()
        self.traffic = self.chaos = False
        self.chaos_over.set()
        for s in senders:
            s.cancel()
        await killer  # returns with ferryd up

    def on_agent_done(self, task):
        if not task.cancelled() and task.exception() is not None:
            e = task.exception()
            self.harness_error = "a client task crashed:\n" + "".join(
                traceback.format_exception(type(e), e, e.__traceback__))

    async def restart(self):
        try:
            await self.ferryd.start()
        except StartError as e:
            self.violation(f"no restart: ferryd did not come back on its data dir: {e}")
            raise Aborted() from e

    def progress(self):
        ok = sum(1 for s in self.sends if s.oks)
        got = sum(len(a.log.arrivals) for a in self.agents)
        self.say(f"kills {self.ferryd.kills}, sends {len(self.sends)} ({ok} ok'd), "
                 f"entries received {got}, violations so far {len(self.violations)}")

    async def killer(self):
        rng = random.Random(self.rng.random())
        while True:
            try:
                await asyncio.wait_for(self.chaos_over.wait(),
                                       rng.uniform(self.args.kill_min, self.args.kill_max))
                break
            except asyncio.TimeoutError:
                pass  # time for the next crash
            await self.crash(rng)
        if not self.ferryd.running():
            await self.restart()

    async def crash(self, rng):
        await self.ferryd.kill9()
        self.check_died()
        if self.args.plant == "datadir" and self.planted is None:
            await self.plant_in_data_dir()
        await asyncio.sleep(rng.uniform(0, 0.3))  # down a moment: connects are refused
        if rng.random() < 0.15:
            await self.ferryd.start(wait=False)
            await asyncio.sleep(rng.uniform(0, 0.25))  # killed again while it starts or recovers
            await self.ferryd.kill9(early=True)
            self.check_died()
        await self.restart()

    def check_died(self):
        while self.ferryd.died:
            status = self.ferryd.died.pop()
            self.violation(f"ferryd died: it exited by itself with status {status}:\n"
                           + self.ferryd.log_tail(2000))

    async def plant_in_data_dir(self):
        # Every reader must have handled what it got before the kill, so that
        # last_seq says what each client has seen.
        await self.wait_until(lambda: all(not a.connected() for a in self.agents), 10,
                              "every connection closed after a kill")
        victim = max(self.agents, key=lambda a: a.last_seq)
        to_seq = victim.last_seq - 3
        self.ferryd.rewind_inbox(victim.client_id, to_seq)
        self.planted = (f"ferry.db forgot the inbox of {victim.label} above seq {to_seq} "
                        f"(it had seen {victim.last_seq}) while ferryd was down")
        self.say(f"PLANTED: {self.planted}")

    async def settle(self, what):
        """No new sends: waits until every send is ok'd, every client has read
        up to the head its `sync` reports (repeated until a sync shows nothing
        new) and has acked durably. A step that times out is a violation."""
        self.settling = True
        try:
            if await self._settle(what):
                self.say(f"settled {what}: {len(self.sends)} sends, every client at its head")
        finally:
            self.settling = False

    async def _settle(self, what):
        if not await self.wait_until(lambda: all(not a.pending for a in self.agents),
                                     SETTLE_TIMEOUT, f"{what}: every send ok'd"):
            return False
        for _ in range(20):
            had = {}
            for a in self.agents:
                a.sync_target = None
                had[a] = a.last_seq
                a.request_sync()
            if not await self.wait_until(
                    lambda: all(a.sync_target is not None and a.last_seq >= a.sync_target
                                for a in self.agents),
                    SETTLE_TIMEOUT, f"{what}: every client read to its head"):
                return False
            if all(a.sync_target == had[a] for a in self.agents):
                break  # nothing arrived that the sync did not already count
        try:
            await asyncio.wait_for(asyncio.gather(*(a.ack_durably() for a in self.agents)),
                                   SETTLE_TIMEOUT)
        except asyncio.TimeoutError:
            self.violation(f"timeout: {what}: durable acks")
            return False
        return True

    async def restart_and_probe(self):
        """One more crash with every entry acked (and so deleted): the next
        entry of every client must get the seq after its last one."""
        hellos = {a: a.hellos for a in self.agents}
        await self.ferryd.kill9()
        await self.restart()
        await self.wait_until(lambda: all(a.hellos > hellos[a] and a.connected()
                                          for a in self.agents), 60,
                              "every client back after the last restart")
        for chat_id, chat in self.chats.items():
            self.rng.choice([a for a in self.agents if a.user in chat.members]).new_send(chat_id)

    async def shutdown(self):
        self.stopping = True
        self.stop_event.set()
        _, stuck = await asyncio.wait(self.agent_tasks, timeout=30)
        if stuck:
            raise SetupError(f"{len(stuck)} clients did not stop within 30 s")
        self.check_died()
        status = await self.ferryd.stop()
        self.clean_exit = status == 0
        if not self.clean_exit:
            self.violation(f"unclean exit: ferryd answered SIGTERM with status {status}:\n"
                           + self.ferryd.log_tail(2000))

    async def teardown(self):
        """However the run ended: no task left running, no ferryd left behind."""
        self.stopping = True
        self.stop_event.set()
        self.traffic = self.chaos = False
        self.chaos_over.set()
        left = [t for t in self.agent_tasks if not t.done()]
        for t in left:
            t.cancel()
        if left:
            await asyncio.wait(left, timeout=10)
        if self.ferryd.running():
            await self.ferryd.kill9()  # only ever the process it started

    # ---- the check ----

    def history(self):
        h = History(self.users, self.chats, self.sends,
                    {a.client_id: a.log for a in self.agents})
        if self.args.plant == "checker":
            # One delivered message, not a client's last entry, goes missing
            # from the history, as if the client never got it.
            log = self.rng.choice([a.log for a in self.agents if len(a.log.arrivals) > 10])
            seqs = sorted({s for s, k in log.arrivals if k[0] == "message"})[:-1]
            seq = self.rng.choice(seqs)
            log.arrivals = [(s, k) for s, k in log.arrivals if s != seq]
            self.planted = f"removed seq {seq} from the recorded history of client {log.client}"
            self.say(f"PLANTED: {self.planted}")
        return h

    def report(self, aborted=False):
        """Checks the history, prints the summary; returns the exit status."""
        # An aborted run's history is cut short: only what ended it counts.
        result = (history.Report([], {"sends": len(self.sends)}) if aborted
                  else history.check(self.history()))
        violations = self.violations + result.violations
        st = Counter(result.stats)
        f = self.ferryd
        tops = {a.label: max((s for s, _ in a.log.arrivals), default=0) for a in self.agents}
        count = lambda key: sum(a.counts[key] for a in self.agents)  # noqa: E731
        print()
        print("==== crash soak summary ====")
        print(f"seed {self.args.seed}; traffic {self.args.seconds:.0f} s; "
              f"wall time {time.monotonic() - self.started:.0f} s")
        print(f"setup: {len(self.users)} users, {len(self.agents)} clients, "
              f"{len(self.chats)} chats ({len(PAIRS)} 1:1, groups of {SMALL_GROUP} "
              f"and {len(self.users)})")
        print(f"ferryd: {f.kills} kills -9 ({f.early_kills} during start-up), {f.starts} starts, "
              f"{f.port_changes} port changes, clean exit on SIGTERM: "
              f"{'yes' if self.clean_exit else 'NO'}")
        print(f"sends: {st['sends']} messages, {st['send_attempts']} attempts, "
              f"{st['sends_ok']} ok'd ({st['sends_ok_more_than_once']} ok'd more than once), "
              f"retried after error: {dict(self.send_retries) or 0}")
        print(f"deliveries: {st['deliveries_due']} due, {st['deliveries']} delivered; "
              f"{st['arrivals']} entries received, {st['redeliveries']} of them again (same seq)")
        print(f"connections: {sum(a.hellos for a in self.agents)} hellos, "
              f"{count('takeover')} takeovers, {count('voluntary_close')} own closes "
              f"({count('offline')} then offline 1-10 s), "
              f"{count('connect_failed')} failed connects, {count('ping_sync')} syncs after ping; "
              f"closes by code: {dict(sorted(self.closes.items(), key=lambda kv: str(kv[0])))}")
        values = sorted(tops.values())
        print(f"max seq per client: min {values[0]}, median {statistics.median(values):.0f}, "
              f"max {values[-1]}")
        items = [f"{k} {v}" for k, v in tops.items()]
        for i in range(0, len(items), 8):
            print("  " + ", ".join(items[i:i + 8]))
        if self.planted:
            print(f"planted fault: {self.planted}")
        kinds = Counter(v.split(":", 1)[0] for v in violations)
        print(f"violations: {len(violations)}" + (f" {dict(kinds)}" if kinds else ""))
        for v in violations[:30]:
            print("  " + v.replace("\n", "\n    "))
        if len(violations) > 30:
            print(f"  ... and {len(violations) - 30} more")
        print("crash_soak:", "FAILED" if violations else "PASSED")
        return 1 if violations else 0


async def amain(args, work_dir):
    soak = Soak(args, work_dir)
    budget = args.seconds + 600  # the whole run, setup and settling included
    try:
        await asyncio.wait_for(soak.run(), budget)
    except (StartError, SetupError) as e:
        print(f"crash_soak: harness error: {e}\n{soak.ferryd.log_tail(3000)}")
        return 2
    except Aborted:
        return soak.report(aborted=True)
    except asyncio.TimeoutError:
        print(f"crash_soak: harness error: not done within {budget:.0f} s\n"
              + soak.ferryd.log_tail(3000))
        return 2
    finally:
        await soak.teardown()
    return soak.report()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ferryd", required=True, help="the ferryd binary")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=60, help="traffic time (default 60)")
    length.add_argument("--minutes", type=float, help="traffic time in minutes")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock)")
    p.add_argument("--rate", type=float, default=40, help="new messages per second, all clients")
    p.add_argument("--kill-min", type=float, default=2, help="s between kills, at least")
    p.add_argument("--kill-max", type=float, default=5, help="s between kills, at most")
    p.add_argument("--plant", choices=["checker", "datadir"],
                   help="plant a fault the run must report (shows the checker can fail)")
    p.add_argument("--keep", action="store_true", help="keep the data dir and ferryd.log")
    p.add_argument("--ferryd-arg", action="append", default=[], metavar="ARG",
                   help="one more ferryd flag, e.g. --ferryd-arg=--store-max-wait-ms=5")
    args = p.parse_args()
    if args.minutes is not None:
        args.seconds = args.minutes * 60
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1_000_000
    if not os.access(args.ferryd, os.X_OK):
        p.error(f"--ferryd {args.ferryd}: not an executable")
    work_dir = tempfile.mkdtemp(prefix="ferry-soak-")
    print(f"crash_soak: seed {args.seed} (rerun with --seed {args.seed})", flush=True)
    status = asyncio.run(amain(args, work_dir))
    if args.keep or status != 0:
        print(f"crash_soak: data dir and ferryd.log kept in {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
