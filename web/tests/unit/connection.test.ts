// The WebSocket wrapper alone, against sockets that misbehave.
import assert from "node:assert/strict";
import { test } from "node:test";

class SilentSocket {
  static all: SilentSocket[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {
    SilentSocket.all.push(this); // never opens, never closes by itself
  }
  send() {}
  close() {
    this.closed = true;
  }
}

const g = globalThis as Record<string, unknown>;
g.WebSocket = SilentSocket;
g.window = { addEventListener() {}, removeEventListener() {} };

const { Connection } = await import("../../src/connection");

test("a handshake that never completes is abandoned and tried again", async () => {
  const states: string[] = [];
  const conn = new Connection(
    "ws://ferry.test/v1/ws",
    {
      hello: () => ({ token: "t", after: 0 }),
      seq: () => 0,
      onHello: () => true,
      onEntry() {},
      onTyping() {},
      onState: (s) => states.push(s),
      onFatal() {},
    },
    50,
  );
  conn.start();
  const deadline = Date.now() + 5000;
  while (SilentSocket.all.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  conn.stop();
  assert.ok(SilentSocket.all.length >= 2, "a second attempt was made");
  assert.ok(SilentSocket.all[0].closed, "the hung socket was closed");
  assert.deepEqual(states.slice(0, 3), ["connecting", "offline", "connecting"]);
});
