// The WebSocket to ferryd: requests matched to replies by `id`, `hello`
// with `after`, `ping` → `pong` (and `sync` when `ping.head` is ahead), and
// reconnection with exponential backoff and full jitter.
import { isEntry, ProtocolError, type Entry, type TypingEvent } from "./protocol";
import { backoffMs } from "./state";

export type ConnState = "connecting" | "online" | "offline";

export interface HelloOk {
  user: string;
  clientId: string;
  head: number;
  epoch: string;
}

export interface ConnectionHooks {
  /** The token, and the highest seq saved (undefined: every entry held). */
  hello(): { token: string; after?: number };
  /** The highest seq saved so far, to compare with `ping.head`. */
  seq(): number;
  /** Returns false to reconnect at once (the epoch changed). */
  onHello(ok: HelloOk): boolean;
  onEntry(entry: Entry): void;
  onTyping(ev: TypingEvent): void;
  onState(state: ConnState): void;
  /** 4401 (revoked) and 4409 (replaced): no reconnect by itself. */
  onFatal(code: number): void;
}

/** Silence after which the connection is taken for dead: the server pings every 20 s. */
const DEAD_AFTER_MS = 45_000;
const REQUEST_TIMEOUT_MS = 20_000;
/** From `new WebSocket` to the hello's `ok`: past this, the attempt is abandoned and retried. */
const CONNECT_TIMEOUT_MS = 10_000;

interface Pending {
  resolve(v: Record<string, unknown>): void;
  reject(e: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class Connection {
  private ws?: WebSocket;
  private state: ConnState = "offline";
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private attempt = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private watchdog?: ReturnType<typeof setInterval>;
  private lastFrameAt = 0;
  private stopped = false;
  private readonly onBrowserOnline = () => this.reconnectNow();

  constructor(
    private readonly url: string,
    private readonly hooks: ConnectionHooks,
    private readonly connectTimeoutMs = CONNECT_TIMEOUT_MS,
  ) {}

  start(): void {
    this.stopped = false;
    window.addEventListener("online", this.onBrowserOnline);
    this.watchdog = setInterval(() => this.checkAlive(), 5_000);
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener("online", this.onBrowserOnline);
    clearInterval(this.watchdog);
    clearTimeout(this.reconnectTimer);
    this.ws?.close(1000);
    this.dropSocket();
  }

  get online(): boolean {
    return this.state === "online";
  }

  /** Reconnects now instead of at the end of the backoff. */
  reconnectNow(): void {
    if (this.stopped || this.state !== "offline") return;
    clearTimeout(this.reconnectTimer);
    this.open();
  }

  /** Sends a request and waits for its `ok`; an `error` rejects with ProtocolError. */
  request(frame: Record<string, unknown>, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Record<string, unknown>> {
    if (this.state !== "online" || !this.ws) return Promise.reject(new ProtocolError("offline", "not connected"));
    return this.rawRequest(this.ws, frame, timeoutMs);
  }

  /** Sends a frame that has no reply (ack, typing); dropped while offline. */
  post(frame: Record<string, unknown>): void {
    if (this.state === "online") this.ws?.send(JSON.stringify(frame));
  }

  private rawRequest(ws: WebSocket, frame: Record<string, unknown>, timeoutMs: number) {
    const id = this.nextId++;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError("timeout", "no reply from the server"));
        // A request unanswered this long: the connection is not working.
        if (this.ws === ws) ws.close(4000);
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  private open(): void {
    this.setState("connecting");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.lastFrameAt = Date.now();
    // A handshake that hangs (a SYN into the void, a proxy that never
    // answers) would otherwise wait for the browser's own timeout, minutes.
    const abandon = setTimeout(() => {
      if (this.ws !== ws || this.state === "online") return;
      this.dropSocket();
      ws.close();
      this.scheduleReconnect();
    }, this.connectTimeoutMs);
    ws.onopen = () => {
      const { token, after } = this.hooks.hello();
      const hello: Record<string, unknown> = { type: "hello", token };
      if (after !== undefined) hello.after = after;
      this.rawRequest(ws, hello, REQUEST_TIMEOUT_MS).then(
        (ok) => {
          clearTimeout(abandon);
          if (this.ws !== ws) return;
          this.attempt = 0;
          if (!this.hooks.onHello(ok as unknown as HelloOk)) {
            ws.close(1000);
            return;
          }
          this.setState("online");
        },
        () => {
          /* the close that follows reconnects */
        },
      );
    };
    ws.onmessage = (ev) => this.onFrame(ws, ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.dropSocket();
      if (ev.code === 4401 || ev.code === 4409) {
        this.setState("offline");
        this.hooks.onFatal(ev.code);
        return;
      }
      this.scheduleReconnect();
    };
  }

  private onFrame(ws: WebSocket, data: unknown): void {
    if (this.ws !== ws || typeof data !== "string") return;
    this.lastFrameAt = Date.now();
    let frame: Record<string, unknown>;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    const id = frame.id;
    if ((frame.type === "ok" || frame.type === "error") && typeof id === "number") {
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      clearTimeout(p.timer);
      if (frame.type === "ok") p.resolve(frame);
      else
        p.reject(
          new ProtocolError(
            String(frame.code),
            String(frame.message ?? ""),
            typeof frame.retryAfterMs === "number" ? frame.retryAfterMs : undefined,
          ),
        );
      return;
    }
    if (frame.type === "ping") {
      ws.send('{"type":"pong"}');
      const head = frame.head;
      if (typeof head === "number" && head > this.hooks.seq() && this.state === "online") {
        this.request({ type: "sync", after: this.hooks.seq() }).catch(() => {});
      }
      return;
    }
    if (frame.type === "typing") {
      this.hooks.onTyping(frame as unknown as TypingEvent);
      return;
    }
    if (isEntry(frame as { type?: unknown; seq?: unknown })) this.hooks.onEntry(frame as unknown as Entry);
  }

  private checkAlive(): void {
    if (this.ws && this.state !== "offline" && Date.now() - this.lastFrameAt > DEAD_AFTER_MS) {
      const ws = this.ws;
      this.dropSocket();
      ws.close(4000);
      this.scheduleReconnect();
    }
  }

  private dropSocket(): void {
    if (this.ws) {
      this.ws.onopen = this.ws.onmessage = this.ws.onclose = null;
    }
    this.ws = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError("offline", "connection lost"));
    }
    this.pending.clear();
  }

  private scheduleReconnect(): void {
    this.setState("offline");
    if (this.stopped) return;
    const delay = backoffMs(this.attempt++, Math.random());
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private setState(s: ConnState): void {
    if (this.state === s) return;
    this.state = s;
    this.hooks.onState(s);
  }
}
