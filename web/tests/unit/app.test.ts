// The controller against a fake WebSocket and fake-indexeddb: what it
// sends, in what order, and what it keeps.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

type Frame = Record<string, unknown>;

class FakeSocket {
  static all: FakeSocket[] = [];
  sent: Frame[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
    setTimeout(() => this.onopen?.(), 0);
  }
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close(code = 1000) {
    if (this.closed) return;
    this.closed = true;
    setTimeout(() => this.onclose?.({ code }), 0);
  }
  push(frame: Frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  reply(type: string, extra: Frame = {}) {
    const req = this.sent.filter((f) => f.type === type).at(-1)!;
    this.push({ type: "ok", id: req.id, ...extra });
  }
}

const g = globalThis as Record<string, unknown>;
g.WebSocket = FakeSocket;
g.window = { addEventListener() {}, removeEventListener() {} };
g.document = { visibilityState: "visible", addEventListener() {}, removeEventListener() {} };
g.location = { protocol: "http:", host: "ferry.test" };
const store = new Map<string, string>();
g.localStorage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => store.set(k, v), removeItem: (k: string) => store.delete(k) };

const { ChatApp } = await import("../../src/app");
const { LocalDb } = await import("../../src/db");
type App = Awaited<ReturnType<typeof ChatApp.start>>;

async function until<T>(what: () => T | undefined | false, label: string): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = what();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("timed out waiting for " + label);
}

let n = 0;
let session: { user: string; token: string; clientId: string; device: string };
let apps: App[] = [];

beforeEach(() => {
  FakeSocket.all = [];
  session = { user: "alice", token: "t", clientId: `c${++n}`, device: "test" };
});
afterEach(async () => {
  for (const a of apps) await a.logout().catch(() => {});
  apps = [];
});

async function started(): Promise<{ app: App; ws: FakeSocket }> {
  g.fetch = async () => new Response(null, { status: 204 });
  const app = await ChatApp.start(session, () => {});
  apps.push(app);
  const ws = await until(() => FakeSocket.all.at(-1)?.sent.find((f) => f.type === "hello") && FakeSocket.all.at(-1), "hello");
  return { app, ws };
}

function online(ws: FakeSocket, epoch = "E1") {
  ws.reply("hello", { user: "alice", clientId: session.clientId, head: 0, epoch });
}

const message = (seq: number, body: string, ts = 1000 + seq) => ({
  type: "message", seq, chatId: "chat1", messageId: `m${seq}`, ts, from: "bob", fromClient: "b1", body, attachments: [], clientMsgId: `x${seq}`,
});

test("entries are saved to IndexedDB before they are acked, and a resend is acked again, not stored twice", async () => {
  const order: string[] = [];
  const write = LocalDb.prototype.write;
  LocalDb.prototype.write = async function (batch) {
    await write.call(this, batch);
    if (batch.seq) order.push(`saved ${batch.seq.seq}`);
  };
  try {
    const { app, ws } = await started();
    online(ws);
    const realSend = ws.send.bind(ws);
    ws.send = (text: string) => {
      const f = JSON.parse(text);
      if (f.type === "ack") order.push(`ack ${f.upTo}`);
      realSend(text);
    };
    ws.push(message(1, "one"));
    ws.push(message(2, "two"));
    await until(() => order.includes("ack 2"), "ack 2");
    assert.ok(order.indexOf("saved 2") < order.indexOf("ack 2"), order.join(", "));
    ws.push(message(2, "two")); // the server resends (our ack was lost)
    await until(() => order.filter((o) => o === "ack 2").length === 2, "second ack");
    assert.deepEqual(app.items.get("chat1")!.map((m: { body: string }) => m.body), ["one", "two"]);
    // what a reload finds
    const db = await LocalDb.open(session.user, session.clientId);
    assert.equal((await db.seqState()).seq, 2);
    assert.equal((await db.loadAll()).messages.length, 2);
    db.close();
  } finally {
    LocalDb.prototype.write = write;
  }
});

test("a reconnect says hello with the last saved seq; a new epoch starts over from 0", async () => {
  const { ws } = await started();
  online(ws, "E1");
  ws.push(message(7, "seven"));
  await until(() => ws.sent.some((f) => f.type === "ack" && f.upTo === 7), "ack 7");
  ws.close(1006);
  const ws2 = await until(() => FakeSocket.all.length === 2 && FakeSocket.all[1].sent.length > 0 && FakeSocket.all[1], "reconnect");
  assert.equal(ws2.sent[0].type, "hello");
  assert.equal(ws2.sent[0].after, 7);
  online(ws2, "E2"); // the server lost this inbox
  const ws3 = await until(() => FakeSocket.all.length === 3 && FakeSocket.all[2].sent.length > 0 && FakeSocket.all[2], "reconnect after epoch");
  assert.equal(ws3.sent[0].after, 0);
});

test("ping.head ahead of the saved seq asks for a sync from it", async () => {
  const { ws } = await started();
  online(ws);
  ws.push(message(1, "one"));
  await until(() => ws.sent.some((f) => f.type === "ack"), "ack");
  ws.push({ type: "ping", head: 5 });
  const sync = await until(() => ws.sent.find((f) => f.type === "sync"), "sync");
  assert.equal(sync.after, 1);
  assert.ok(ws.sent.some((f) => f.type === "pong"));
});

test("a message typed offline is sent on connect; a failed one is retried with the same clientMsgId", async () => {
  const { app, ws } = await started();
  await app.send("chat1", "typed while offline");
  assert.equal(ws.sent.filter((f) => f.type === "send").length, 0);
  online(ws);
  const first = await until(() => ws.sent.find((f) => f.type === "send"), "send");
  assert.equal(first.body, "typed while offline");
  // rate_limited: sent again by itself, same clientMsgId
  ws.push({ type: "error", id: first.id, code: "rate_limited", message: "slow down", retryAfterMs: 10 });
  const second = await until(() => ws.sent.filter((f) => f.type === "send")[1], "resend");
  assert.equal(second.clientMsgId, first.clientMsgId);
  // a refusal: failed until the person retries, again with the same clientMsgId
  ws.push({ type: "error", id: second.id, code: "forbidden", message: "not a member" });
  const key = "o:" + first.clientMsgId;
  await until(() => app.findItem("chat1", key)?.state === "failed", "failed");
  app.retry("chat1", key);
  const third = await until(() => ws.sent.filter((f) => f.type === "send")[2], "retry");
  assert.equal(third.clientMsgId, first.clientMsgId);
  ws.push({ type: "ok", id: third.id, messageId: "srv1", ts: 5000 });
  const sent = await until(() => app.findItem("chat1", key)?.state === "sent" && app.findItem("chat1", key), "sent");
  assert.equal(sent.messageId, "srv1");
  assert.equal(sent.ts, 5000, "ordered by the server's ts once sent");
});

test("the connection dropping mid-send leaves the message queued, sent again on reconnect", async () => {
  const { app, ws } = await started();
  online(ws);
  await app.send("chat1", "hello");
  const first = await until(() => ws.sent.find((f) => f.type === "send"), "send");
  ws.close(1006);
  const ws2 = await until(() => (FakeSocket.all[1]?.sent.length ?? 0) > 0 && FakeSocket.all[1], "reconnect");
  assert.equal(app.findItem("chat1", "o:" + first.clientMsgId)?.state, "sending");
  online(ws2);
  const again = await until(() => ws2.sent.find((f) => f.type === "send"), "resend");
  assert.equal(again.clientMsgId, first.clientMsgId);
});

test("a revoked client (4401) ends the session and deletes its local data", async () => {
  let ended: string | undefined;
  g.fetch = async () => new Response(null, { status: 204 });
  const app = await ChatApp.start(session, (r) => (ended = r));
  const ws = await until(() => (FakeSocket.all.at(-1)?.sent.length ?? 0) > 0 && FakeSocket.all.at(-1), "hello");
  online(ws);
  ws.push(message(1, "one"));
  await until(() => ws.sent.some((f) => f.type === "ack"), "ack");
  ws.close(4401);
  await until(() => ended, "end");
  assert.equal(ended, "revoked");
  const db = await LocalDb.open(session.user, session.clientId);
  assert.equal((await db.loadAll()).messages.length, 0);
  db.close();
  void app;
});
