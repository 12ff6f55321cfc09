"""The crash soak's history checker: pure functions over what the clients saw.

soak.py records, while ferryd is killed and restarted under it, every send
a client made (with every `ok` it got for it) and, per client, every inbox
entry that arrived, in arrival order, plus every `hello` answer. check()
then decides whether that history keeps PROTOCOL.md's delivery contract:

- every ok'd message is in the inbox of every recipient client (each active
  client of each member of the chat, except the sending client) exactly
  once after dedup on messageId, with the content that was sent;
- per client, seqs are gap-free from 1 (no entry arrives beyond the highest
  contiguous seq + 1, and the seqs seen are exactly 1..max) and a seq is
  never reused: every arrival of one seq carries the same entry, also
  across restarts; `hello` never answers a head below the seq the client
  already has, and the epoch never changes;
- nothing is delivered that was not sent: every message names a send that
  a client made, in that chat, with that body and the messageId and ts its
  `ok` carried; a send is answered with one messageId however often it is
  retried, and two sends never share one;
- every `chat created` event reaches every client it should, exactly once.

No I/O and no clock here, so history_test.py can plant violations and see
each one reported. Entry keys (the `key` of an arrival) are tuples:
  ("message", messageId, chatId, from, fromClient, clientMsgId, ts, digest)
  ("chat", chatId, event, members (sorted tuple), by)
  ("other", type, canonical JSON of the frame without seq)
where digest is body_digest(body).
"""

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field


def body_digest(body):
    """A short digest of a message body, so histories need not keep bodies."""
    return hashlib.blake2b(body.encode("utf-8"), digest_size=8).hexdigest()


@dataclass
class Send:
    """One clientMsgId of one client: every attempt shares it."""
    client: str          # clientId of the sender
    user: str
    cmid: str            # clientMsgId
    chat: str
    digest: str          # body_digest of the body sent
    oks: list = field(default_factory=list)      # (messageId, ts) of every ok
    refused: list = field(default_factory=list)  # error codes that ended it
    attempts: int = 0


@dataclass
class ClientLog:
    client: str
    user: str
    arrivals: list = field(default_factory=list)  # (seq, key) in arrival order
    hellos: list = field(default_factory=list)    # (after, head, epoch)


@dataclass
class Chat:
    members: tuple       # usernames
    creator_client: str  # the client that created it (gets no `created` event)


@dataclass
class History:
    users: dict          # user -> [clientId]: every active client
    chats: dict          # chatId -> Chat
    sends: list          # [Send]
    clients: dict        # clientId -> ClientLog


@dataclass
class Report:
    violations: list
    stats: dict

    def by_kind(self):
        return Counter(v.split(":", 1)[0] for v in self.violations)


def check(h):
    """Returns a Report: every violation (one line each, "kind: detail") and
    the counts the summary prints."""
    v = []
    stats = Counter()
    oks = _check_sends(h, v, stats)
    for log in h.clients.values():
        _check_client(h, log, oks, v, stats)
    return Report(v, dict(stats))


def _check_sends(h, v, stats):
    """Idempotency: one messageId per send, one send per messageId. Returns
    messageId -> (Send, ts) of every ok'd send."""
    oks = {}
    for s in h.sends:
        stats["sends"] += 1
        stats["send_attempts"] += s.attempts
        ids = {mid for mid, _ in s.oks}
        if s.refused:
            v.append(f"send refused: {s.client} {s.cmid} got {s.refused}")
        if not ids:
            if not s.refused:
                v.append(f"send unresolved: {s.client} {s.cmid} in {s.chat} never ok'd "
                         f"after {s.attempts} attempts")
            continue
        stats["sends_ok"] += 1
        if len(s.oks) > 1:
            stats["sends_ok_more_than_once"] += 1
        if len(set(s.oks)) > 1:
            v.append(f"idempotency: {s.client} {s.cmid} ok'd as {sorted(set(s.oks))}")
        for mid, ts in s.oks:
            if mid in oks and oks[mid][0] is not s:
                other = oks[mid][0]
                v.append(f"idempotency: messageId {mid} answered to {s.client} {s.cmid} "
                         f"and to {other.client} {other.cmid}")
            oks.setdefault(mid, (s, ts))
    return oks


def _recipients(h, chat_id, sender_client):
    chat = h.chats[chat_id]
    return {c for u in chat.members for c in h.users.get(u, []) if c != sender_client}


def _check_client(h, log, oks, v, stats):
    name = f"{log.user}/{log.client}"
    by_seq = {}
    top = 0  # the highest seq seen so far
    for seq, key in log.arrivals:
        stats["arrivals"] += 1
        if seq in by_seq:
            stats["redeliveries"] += 1
            if by_seq[seq] != key:
                v.append(f"seq reused: {name} seq {seq} carried {_short(by_seq[seq])} "
                         f"and later {_short(key)}")
            continue
        # Each connection streams from the client's `after` + 1 in order, so
        # a new seq is never more than one past everything seen before it.
        if seq > top + 1:
            v.append(f"gap: {name} got seq {seq} right after seq {top}")
        by_seq[seq] = key
        top = max(top, seq)
    if len(by_seq) != top or any(s < 1 for s in by_seq):
        v.append(f"gap: {name} saw {len(by_seq)} distinct seqs but its highest is {top}")

    epochs = {e for _, _, e in log.hellos}
    if len(epochs) > 1:
        v.append(f"epoch changed: {name} saw epochs {sorted(epochs)}")
    for after, head, _ in log.hellos:
        if head < after:
            v.append(f"head went back: {name} hello after={after} answered head={head}")

    _check_messages(h, log, name, by_seq, oks, v, stats)
    _check_chat_events(h, log, name, by_seq, v)


def _check_messages(h, log, name, by_seq, oks, v, stats):
    seqs_of = defaultdict(list)  # messageId -> seqs that carried it
    for seq, key in by_seq.items():
        if key[0] != "message":
            continue
        _, mid, chat, from_user, from_client, cmid, ts, digest = key
        seqs_of[mid].append(seq)
        if mid not in oks:
            v.append(f"never sent: {name} seq {seq} message {mid} ({from_client} {cmid}) "
                     f"matches no ok'd send")
            continue
        s, ok_ts = oks[mid]
        sent = (s.chat, s.user, s.client, s.cmid, ok_ts, s.digest)
        got = (chat, from_user, from_client, cmid, ts, digest)
        if sent != got:
            v.append(f"content: {name} seq {seq} message {mid} is {got}, was sent as {sent}")
        if log.client not in _recipients(h, s.chat, s.client):
            v.append(f"not a recipient: {name} seq {seq} got {mid} of chat {s.chat}")
    for mid, seqs in seqs_of.items():
        if len(seqs) > 1:
            v.append(f"duplicate: {name} got message {mid} at seqs {sorted(seqs)}")
    for mid, (s, _) in oks.items():
        if log.client in _recipients(h, s.chat, s.client):
            stats["deliveries_due"] += 1
            if mid in seqs_of:
                stats["deliveries"] += 1
            else:
                v.append(f"lost: {name} never got message {mid} ({s.client} {s.cmid} "
                         f"in {s.chat})")


def _check_chat_events(h, log, name, by_seq, v):
    created = Counter()
    for seq, key in by_seq.items():
        if key[0] != "chat":
            continue
        _, chat_id, event, members, by = key
        chat = h.chats.get(chat_id)
        if chat is None or event != "created" or members != tuple(sorted(chat.members)):
            v.append(f"unexpected chat event: {name} seq {seq} {_short(key)}")
            continue
        created[chat_id] += 1
    for chat_id, chat in h.chats.items():
        due = log.user in chat.members and log.client != chat.creator_client
        n = created[chat_id]
        if due and n != 1:
            v.append(f"chat event: {name} got {n} 'created' events of chat {chat_id}, not 1")
        elif not due and n:
            v.append(f"chat event: {name} got a 'created' event of chat {chat_id} "
                     f"it should not get")


def _short(key):
    return "(" + ", ".join(str(k)[:24] for k in key[:3]) + ")"
