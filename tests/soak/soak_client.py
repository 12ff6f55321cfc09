"""The crash soak's clients: one Agent per Ferry client (device), speaking the
WebSocket protocol with python3-websockets' asyncio API.

An Agent keeps one connection up, reconnecting with `hello after=lastSeq`
whenever it drops (ferryd killed, a takeover by its own next connection,
its own disconnects, now and then followed by seconds offline); it records
every inbox entry that arrives and every `hello` answer in a
history.ClientLog, and acknowledges what it has, sometimes late on purpose.
Its sends use a fresh clientMsgId each; a send whose outcome is unknown
(the connection dropped before the reply, or `unavailable`) is sent again
with the same clientMsgId until an `ok` names its messageId. Some sends go
out twice at once, and some already ok'd go again after the next hello (a
client that lost the ok): each must be answered with the same messageId.

Everything runs on the soak's one asyncio loop: no locks. Waits are on
events or the connection; the sleeps are the workload's own pacing (when to
send, how late to ack, how long to back off while ferryd is down).
"""

import asyncio
import json
from collections import Counter

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from history import ClientLog, Send, body_digest

MAX_PENDING = 16      # sends of one client awaiting their ok
HELLO_TIMEOUT = 15.0  # s; an upper bound: ferryd answers at once or is gone
RETRY_CODES = ("unavailable", "rate_limited")


class Conn:
    """One WebSocket connection of an agent and its requests awaiting replies."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.waiting = {}  # request id -> callback(reply frame, or None if closed)
        self.closed = asyncio.Event()
        self.tasks = set()

    def post(self, frame):
        """Queues a frame (in order: ws.send writes before it first waits)."""
        if self.closed.is_set():
            return
        task = asyncio.ensure_future(self._send(json.dumps(frame)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send(self, text):
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            pass  # the reader sees the close

    def request(self, frame, callback):
        self.next_id += 1
        frame = dict(frame, id=self.next_id)
        self.waiting[self.next_id] = callback
        self.post(frame)

    def ask(self, frame):
        """A request whose reply (None if the connection closed) is awaited."""
        fut = asyncio.get_running_loop().create_future()
        self.request(frame, lambda reply: fut.done() or fut.set_result(reply))
        return fut

    def on_closed(self):
        self.closed.set()
        waiting, self.waiting = self.waiting, {}
        for callback in waiting.values():
            callback(None)


class Agent:
    """One client of one user: its connection, its sends and its history."""

    def __init__(self, soak, label, user, token, client_id, rng, send_weight):
        self.soak = soak
        self.label = label
        self.user = user
        self.token = token
        self.client_id = client_id
        self.rng = rng
        self.send_weight = send_weight
        self.chats = []        # chatIds this agent sends to, weighted by repeats
        self.log = ClientLog(client_id, user)
        self.last_seq = 0      # the highest seq received
        self.acked_durably = 0
        self.conn = None       # the newest connection whose hello succeeded
        self.hellos = 0
        self.pending = {}      # clientMsgId -> Send, not ok'd yet
        self.bodies = {}       # clientMsgId -> body, while pending
        self.sent = 0
        self.sync_target = None  # while settling: the head a sync reported
        self.lazy = rng.random() < 0.2  # sometimes lets the server's ack timeout fire
        self.next_lazy = 0.0
        self.forgotten = {}    # clientMsgId -> Send ok'd, sent again after the next hello
        self.ack_wanted = asyncio.Event()
        self.counts = Counter()

    # ---- connection ----

    def connected(self):
        return self.conn is not None and not self.conn.closed.is_set()

    async def run(self):
        """Keeps a connection up until the soak stops."""
        backoff = 0.05
        acker = asyncio.ensure_future(self._ack_loop())
        try:
            while not self.soak.stopping:
                conn = await self._open()
                if conn is None:
                    await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.5))  # ferryd is down
                    backoff = min(backoff * 2, 0.8)
                    continue
                backoff = 0.05
                await self._hold(conn)
        finally:
            acker.cancel()

    async def _hold(self, conn):
        """Returns when conn closes or the soak stops (after closing conn) or,
        while chaos is on, at a random time (about every 30 s): then leaves
        conn to be taken over by the next connection's hello (4409), or
        closes it, and now and then stays offline for a few seconds, so that
        a backlog builds up across crashes."""
        closed = asyncio.ensure_future(conn.closed.wait())
        stop = asyncio.ensure_future(self.soak.stop_event.wait())
        try:
            while not (conn.closed.is_set() or self.soak.stopping):
                await asyncio.wait({closed, stop}, timeout=self.rng.expovariate(1 / 30),
                                   return_when=asyncio.FIRST_COMPLETED)
                if self.soak.chaos:
                    break
        finally:
            closed.cancel()
            stop.cancel()
        if conn.closed.is_set():
            return
        r = self.rng.random()
        if not self.soak.stopping and r < 0.5:
            self.counts["takeover"] += 1  # the next hello closes conn with 4409
            return
        await conn.ws.close()
        await conn.closed.wait()
        if self.soak.stopping:
            return
        self.counts["voluntary_close"] += 1
        if r > 0.8:
            self.counts["offline"] += 1
            try:  # offline a while (the workload), but back at once when chaos ends
                await asyncio.wait_for(self.soak.chaos_over.wait(), self.rng.uniform(1, 10))
            except asyncio.TimeoutError:
                pass

    async def _open(self):
        url = f"ws://127.0.0.1:{self.soak.ferryd.port}/v1/ws"
        try:
            ws = await websockets.connect(url, open_timeout=5, ping_interval=None,
                                          close_timeout=2, max_size=4 << 20, compression=None)
        except (OSError, InvalidHandshake, asyncio.TimeoutError, ConnectionClosed):
            self.counts["connect_failed"] += 1
            return None
        conn = Conn(ws)
        reader = asyncio.ensure_future(self._read(conn))
        self.soak.tasks.add(reader)
        reader.add_done_callback(self.soak.tasks.discard)
        after = self.last_seq
        hello = conn.ask({"type": "hello", "token": self.token, "after": after})
        try:
            reply = await asyncio.wait_for(hello, HELLO_TIMEOUT)
        except asyncio.TimeoutError:
            reply = None
            self.soak.violation(f"hello timeout: {self.label} got no hello answer in "
                                f"{HELLO_TIMEOUT} s")
        if reply is None or reply.get("type") != "ok":
            await ws.close()
            return None
        self.log.hellos.append((after, reply["head"], reply["epoch"]))
        self.hellos += 1
        self.conn = conn
        if self.soak.settling:
            self.sync_target = max(self.sync_target or 0, reply["head"])
        # As a client that lost the ok (say it crashed before storing it)
        # does: the same clientMsgId again, which must get the same answer.
        for cmid, rec in self.forgotten.items():
            self.pending.setdefault(cmid, rec)
        self.forgotten.clear()
        for rec in list(self.pending.values()):
            self._transmit(rec)  # outcome unknown: again, same clientMsgId
        if self.last_seq > self.acked_durably:
            self.ack_wanted.set()
        return conn

    async def _read(self, conn):
        try:
            async for text in conn.ws:
                self._on_frame(conn, json.loads(text))
        except ConnectionClosed:
            pass
        except (ValueError, KeyError, TypeError) as e:
            # Not JSON, or an entry without a field the protocol promises.
            self.soak.violation(f"bad frame: {self.label}: {type(e).__name__} {e}")
            await conn.ws.close()
        finally:
            code = conn.ws.close_code
            self.soak.closes[code] += 1
            if code == 4401:
                self.soak.violation(f"unauthorized: {self.label} was closed with 4401")
            conn.on_closed()

    def _on_frame(self, conn, frame):
        kind = frame.get("type")
        if kind in ("ok", "error"):
            callback = conn.waiting.pop(frame.get("id"), None)
            if callback is None:
                self.soak.violation(f"stray reply: {self.label} got {str(frame)[:200]}")
            else:
                callback(frame)
        elif kind == "ping":
            conn.post({"type": "pong"})
            if frame["head"] > self.last_seq:
                self.counts["ping_sync"] += 1
                conn.request({"type": "sync", "after": self.last_seq}, lambda reply: None)
        elif "seq" in frame:
            self._on_entry(frame)
        # else: ephemeral events (typing) are not part of the history

    def _on_entry(self, frame):
        seq, kind = frame["seq"], frame["type"]
        intern = self.soak.intern
        if kind == "message":
            key = ("message", intern(frame["messageId"]), intern(frame["chatId"]),
                   intern(frame["from"]), intern(frame["fromClient"]),
                   intern(str(frame.get("clientMsgId"))), frame["ts"],
                   body_digest(frame["body"]))
        elif kind == "chat":
            key = ("chat", intern(frame["chatId"]), frame["event"],
                   tuple(sorted(frame["members"])), frame["by"])
        else:
            rest = {k: v for k, v in frame.items() if k != "seq"}
            key = ("other", kind, json.dumps(rest, sort_keys=True))
        self.log.arrivals.append((seq, key))
        if seq > self.last_seq:
            self.last_seq = seq
            self.ack_wanted.set()

    # ---- acks ----

    async def _ack_loop(self):
        while True:
            await self.ack_wanted.wait()
            self.ack_wanted.clear()
            # How late this client acks: mostly at once; a lazy one about
            # every 20 s past the server's 2 s ack timeout, which resends.
            r = self.rng.random()
            now = asyncio.get_running_loop().time()
            if self.lazy and self.soak.chaos and now >= self.next_lazy:
                self.next_lazy = now + self.rng.expovariate(1 / 20)
                await asyncio.sleep(self.rng.uniform(2.1, 2.8))
            elif r < 0.2:
                await asyncio.sleep(self.rng.uniform(0.1, 0.8))
            else:
                await asyncio.sleep(0.01)
            if self.connected():
                self.conn.post({"type": "ack", "upTo": self.last_seq})

    async def ack_durably(self):
        """Acks everything received, with an id, on whichever connection is
        up, and returns once an `ok` says it is stored. Unbounded: the caller
        bounds it."""
        while self.acked_durably < self.last_seq:
            if not self.connected():
                await asyncio.sleep(0.05)  # reconnecting: run() brings it back
                continue
            up_to = self.last_seq
            reply = await self.conn.ask({"type": "ack", "upTo": up_to})
            if reply is not None and reply.get("type") == "ok":
                self.acked_durably = max(self.acked_durably, up_to)
            elif reply is not None:
                await asyncio.sleep(0.2)  # refused (storage busy): again shortly

    # ---- sends ----

    async def send_loop(self, rate):
        """New sends at about `rate` per second while the soak's traffic is on."""
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))  # the workload's pacing
            if not self.soak.traffic:
                return
            if len(self.pending) < MAX_PENDING and self.chats:
                self.new_send(self.rng.choice(self.chats))

    def new_send(self, chat_id):
        self.sent += 1
        cmid = f"{self.label}-{self.sent}"
        body = self._body(cmid)
        rec = Send(self.client_id, self.user, cmid, chat_id, body_digest(body))
        self.soak.sends.append(rec)
        self.pending[cmid] = rec
        self.bodies[cmid] = body
        self._transmit(rec)
        if self.rng.random() < 0.02:
            self._transmit(rec)  # at once again, as an impatient client would

    def _body(self, cmid):
        r = self.rng.random()
        if r < 0.01:
            size = self.rng.randint(30_000, 65_000)  # near the 65,536-byte limit
        elif r < 0.06:
            size = self.rng.randint(2_000, 16_000)
        else:
            size = self.rng.randint(0, 300)
        filler = "".join(self.rng.choice("abcdefgh ijklmnop") for _ in range(min(size, 64)))
        text = f"{cmid} héllo 日本 🚢 " + (filler * (size // 64 + 1))[:size]
        assert len(text.encode()) <= 65_536
        return text

    def _transmit(self, rec):
        if not self.connected():
            return  # sent again after the next hello
        rec.attempts += 1
        self.conn.request({"type": "send", "chatId": rec.chat, "clientMsgId": rec.cmid,
                           "body": self.bodies[rec.cmid]},
                          lambda reply: self._on_send_reply(rec, reply))

    def _on_send_reply(self, rec, reply):
        if reply is None:
            return  # the connection closed first: unknown, sent again after hello
        if reply["type"] == "ok":
            rec.oks.append((reply["messageId"], reply["ts"]))
            if self.pending.pop(rec.cmid, None) is None:
                return  # a second ok: of an attempt sent twice
            if self.soak.chaos and self.rng.random() < 0.03:
                self.forgotten[rec.cmid] = rec
            else:
                self.bodies.pop(rec.cmid, None)
            return
        if rec.cmid not in self.pending:
            return  # a late error of an attempt already answered ok
        code = reply.get("code")
        if code in RETRY_CODES:
            self.soak.send_retries[code] += 1
            delay = self.rng.uniform(0.2, 1.0)
            asyncio.get_running_loop().call_later(
                delay, lambda: rec.cmid in self.pending and self._transmit(rec))
        else:
            rec.refused.append(code)
            self.pending.pop(rec.cmid, None)
            self.bodies.pop(rec.cmid, None)

    # ---- settling (no new sends) ----

    def request_sync(self):
        """Asks for the head now; sync_target gets it (or the next hello's)."""
        if not self.connected():
            return
        conn = self.conn

        def on_reply(reply):
            if reply is not None and reply.get("type") == "ok":
                self.sync_target = max(self.sync_target or 0, reply["head"])
        conn.request({"type": "sync", "after": self.last_seq}, on_reply)

    async def close(self):
        if self.conn is not None:
            await self.conn.ws.close()
