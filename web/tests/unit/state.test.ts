import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChatEntry, Entry, MessageEntry } from "../../src/protocol";
import {
  applyChatEvent,
  backoffMs,
  browserName,
  chatTitle,
  describeEvent,
  highestSeq,
  insertSorted,
  lastFromOthers,
  makeContentType,
  newClientMsgId,
  newEntries,
  ownState,
  parseContentType,
  unreadCount,
  type StoredMessage,
} from "../../src/state";

function msg(key: string, ts: number, from = "bob", messageId: string | undefined = key): StoredMessage {
  return { key: "m:" + key, chatId: "c", messageId, ts, from, body: key, attachments: [], state: from === "alice" ? "sent" : "received" };
}

const entry = (seq: number): Entry =>
  ({ type: "message", seq, chatId: "c", messageId: "m" + seq, ts: seq, from: "bob", fromClient: "x", body: "", attachments: [], clientMsgId: "1" }) as MessageEntry;

test("messages are ordered by (ts, messageId), a late one in its place", () => {
  let list: StoredMessage[] = [];
  list = insertSorted(list, msg("b", 20));
  list = insertSorted(list, msg("c", 30));
  list = insertSorted(list, msg("a", 10)); // arrives late, sorts first
  list = insertSorted(list, msg("z", 20)); // same ts: by messageId
  list = insertSorted(list, msg("y", 20));
  assert.deepEqual(list.map((m) => m.messageId), ["a", "b", "y", "z", "c"]);
});

test("inserting an item with a known key replaces it (a sent message moves to its server ts)", () => {
  let list = [msg("a", 10), msg("b", 20)];
  list = insertSorted(list, { ...msg("a", 30) });
  assert.deepEqual(list.map((m) => [m.messageId, m.ts]), [["b", 20], ["a", 30]]);
});

test("seq tracking keeps only entries above the saved seq, once each, across holes", () => {
  // 3 and 4 again (a resend), then 5, a hole at 6 (expired), then 7.
  const fresh = newEntries([entry(3), entry(4), entry(5), entry(4), entry(7)], 4);
  assert.deepEqual(fresh.map((e) => e.seq), [5, 7]);
  assert.equal(highestSeq(fresh, 4), 7);
  assert.deepEqual(newEntries([entry(1), entry(2)], 2), []);
  assert.equal(highestSeq([], 9), 9);
});

test("own message ticks: sent, then delivered to every other member, then read by every other member", () => {
  const m: StoredMessage = { ...msg("k", 100, "alice"), state: "sent" };
  const pos = { ts: 100, messageId: "k" };
  const before = { ts: 99, messageId: "zz" };
  const members = ["alice", "bob", "carol"];
  assert.equal(ownState(m, "alice", members, new Map()), "sent");
  const marks = new Map([
    ["bob", { delivered: pos, read: pos }],
    ["carol", { delivered: before }],
  ]);
  assert.equal(ownState(m, "alice", members, marks), "sent", "carol has not got it");
  marks.set("carol", { delivered: pos });
  assert.equal(ownState(m, "alice", members, marks), "delivered");
  marks.set("carol", { delivered: pos, read: { ts: 200, messageId: "a" } });
  assert.equal(ownState(m, "alice", members, marks), "read");
  assert.equal(ownState({ ...m, state: "sending" }, "alice", members, marks), "sending");
  assert.equal(ownState({ ...m, state: "failed" }, "alice", members, marks), "failed");
  assert.equal(ownState(msg("o", 1, "bob"), "alice", members, marks), "received");
});

test("unread counts others' messages after the read mark", () => {
  const list = [msg("a", 1), msg("b", 2, "alice"), msg("c", 3), msg("d", 4)];
  assert.equal(unreadCount(list, "alice"), 3);
  assert.equal(unreadCount(list, "alice", { ts: 3, messageId: "c" }), 1);
  assert.equal(unreadCount(list, "alice", { ts: 4, messageId: "d" }), 0);
  assert.deepEqual(lastFromOthers(list, "alice"), { ts: 4, messageId: "d" });
  assert.equal(lastFromOthers([msg("b", 2, "alice")], "alice"), undefined);
});

test("file names travel in the content type and come back", () => {
  for (const name of ["photo.png", 'we "quote".txt', "résumé 2026.pdf", "日本.jpg"]) {
    const ct = makeContentType("image/png", name);
    assert.match(ct, /^[\x20-\x7e]{1,255}$/, ct);
    assert.deepEqual(parseContentType(ct), { type: "image/png", name });
  }
  assert.equal(parseContentType("image/png").name, undefined);
  assert.equal(parseContentType('text/plain; name="../../etc/passwd"').name, "passwd");
  const long = makeContentType("application/pdf", "x".repeat(400) + ".pdf");
  assert.ok(long.length <= 255);
  assert.ok(parseContentType(long).name!.endsWith(".pdf"));
  assert.equal(makeContentType("not a type", "a.bin"), 'application/octet-stream; name="a.bin"');
});

test("reconnect backoff grows to 30 s with full jitter", () => {
  assert.equal(backoffMs(0, 1), 500);
  assert.equal(backoffMs(3, 1), 4000);
  assert.equal(backoffMs(20, 1), 30_000);
  assert.equal(backoffMs(20, 0), 250);
  assert.ok(backoffMs(5, 0.5) < backoffMs(5, 1));
});

test("a retry keeps its clientMsgId; new ones are unique", () => {
  let n = 0;
  const rnd = (k: number) => new Uint8Array(k).map(() => n++);
  const a = newClientMsgId(rnd);
  const b = newClientMsgId(rnd);
  assert.equal(a.length, 32);
  assert.notEqual(a, b);
});

test("chat events change members and read as sentences", () => {
  const ev = (event: string, members: string[], by = "alice"): ChatEntry => ({ type: "chat", seq: 1, chatId: "c", event, members, by, ts: 1 });
  let m = applyChatEvent([], ev("created", ["bob", "alice"]));
  assert.deepEqual(m, ["alice", "bob"]);
  m = applyChatEvent(m, ev("membersAdded", ["carol"]));
  assert.deepEqual(m, ["alice", "bob", "carol"]);
  m = applyChatEvent(m, ev("membersRemoved", ["bob"]));
  assert.deepEqual(m, ["alice", "carol"]);
  assert.equal(describeEvent({ event: "membersAdded", members: ["carol"], by: "alice" }, "bob"), "alice added carol");
  assert.equal(describeEvent({ event: "membersRemoved", members: ["bob"], by: "bob" }, "alice"), "bob left");
  assert.equal(describeEvent({ event: "membersRemoved", members: ["bob"], by: "alice" }, "alice"), "You removed bob");
  assert.equal(chatTitle({ members: ["alice", "bob"] }, "alice"), "bob");
  assert.equal(chatTitle({ name: "lunch", members: ["alice", "bob"] }, "alice"), "lunch");
});

test("the default device name is the browser's", () => {
  assert.equal(browserName("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0 Safari/537.36"), "Chrome on Linux");
  assert.equal(browserName("Mozilla/5.0 (Windows NT 10.0; rv:120.0) Gecko/20100101 Firefox/120.0"), "Firefox on Windows");
});
