// The controller: one logged-in session, its connection, its local history.
// Entries are applied, written to IndexedDB, and only then acked; own
// messages go through an outbox that survives reloads and reconnects.
import * as api from "./api";
import { Connection, type ConnState, type HelloOk } from "./connection";
import { LocalDb, type Batch, type SeqState, type StoredMarks } from "./db";
import { base64, hex, sha256Bytes } from "./hash";
import { ProtocolError, type ChatEntry, type ChatInfo, type ClientInfo, type Entry, type MemberReceipts, type Position, type TypingEvent } from "./protocol";
import {
  applyChatEvent,
  comparePos,
  fromChatEntry,
  fromMessageEntry,
  highestSeq,
  insertSorted,
  lastFromOthers,
  makeContentType,
  maxPos,
  newClientMsgId,
  newEntries,
  safeFileName,
  sortKey,
  type Marks,
  type StoredAttachment,
  type StoredChat,
  type StoredMessage,
} from "./state";

export interface Session {
  user: string;
  token: string;
  clientId: string;
  device: string;
}

export interface PrivacySettings {
  readReceipts: boolean;
  lastSeen: "everyone" | "nobody";
}

export interface Presence {
  online: boolean;
  lastSeen: number | null;
}

const SESSION_KEY = "ferry.session";
const TYPING_SEND_EVERY_MS = 3_000;
const TYPING_IDLE_MS = 4_000;
const TYPING_SHOWN_MS = 6_000; // PROTOCOL.md: shown until paused, a message, or 6 s
const PRESENCE_EVERY_MS = 20_000;
const AUTO_DOWNLOAD_MAX = 25 * 1024 * 1024;

type Listener = () => void;

export function loadSession(): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) ?? "null");
    if (s && typeof s.token === "string" && typeof s.user === "string" && typeof s.clientId === "string") return s;
  } catch {
    /* none */
  }
  return undefined;
}

export function saveSession(s: Session | undefined): void {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
}

export function wsUrl(): string {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
}

/** Why the session ended, for the login screen. */
export type EndReason = "revoked" | "logout";

export class ChatApp {
  conn: ConnState = "connecting";
  replaced = false; // another window of this client took the connection (4409)
  chats = new Map<string, StoredChat>();
  items = new Map<string, StoredMessage[]>();
  marks = new Map<string, Map<string, Marks>>();
  typing = new Map<string, Map<string, number>>();
  presence = new Map<string, Presence>();
  uploads = new Map<string, number>(); // attachment localId → 0..1
  openChat?: string;
  notice?: string; // a passing error to show

  private listeners = new Set<Listener>();
  private connection: Connection;
  private seqState: SeqState = { seq: 0, fresh: true };
  private generation = 0; // counts inbox resets (epoch changes)
  private queue: Entry[] = [];
  private draining = false;
  private pumping = false;
  private blobUrls = new Map<string, string>();
  private downloading = new Set<string>();
  private typingSent = new Map<string, { at: number; idle?: ReturnType<typeof setTimeout> }>();
  private presenceTimer?: ReturnType<typeof setInterval>;
  private typingTimer?: ReturnType<typeof setTimeout>;
  private closed = false;

  private constructor(
    readonly session: Session,
    private readonly db: LocalDb,
    private readonly onEnd: (reason: EndReason) => void,
  ) {
    this.connection = new Connection(wsUrl(), {
      hello: () => ({ token: this.session.token, after: this.seqState.seq }),
      seq: () => this.seqState.seq,
      onHello: (ok) => this.onHello(ok),
      onEntry: (e) => this.onEntry(e),
      onTyping: (e) => this.onTyping(e),
      onState: (s) => this.onConnState(s),
      onFatal: (code) => this.onFatal(code),
    });
  }

  static async start(session: Session, onEnd: (reason: EndReason) => void): Promise<ChatApp> {
    const db = await LocalDb.open(session.user, session.clientId);
    const app = new ChatApp(session, db, onEnd);
    await app.load();
    app.connection.start();
    document.addEventListener("visibilitychange", app.onVisibility);
    return app;
  }

  get me(): string {
    return this.session.user;
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  // --- loading and saving ------------------------------------------------

  private async load(): Promise<void> {
    this.seqState = await this.db.seqState();
    const { chats, messages, marks } = await this.db.loadAll();
    for (const c of chats) this.chats.set(c.chatId, c);
    const byChat = new Map<string, StoredMessage[]>();
    for (const m of messages) {
      const list = byChat.get(m.chatId) ?? [];
      list.push(m);
      byChat.set(m.chatId, list);
    }
    for (const [chatId, list] of byChat) {
      list.sort((a, b) => comparePos(sortKey(a), sortKey(b)));
      this.items.set(chatId, list);
    }
    for (const m of marks) this.setMarks(m.chatId, m.user, m);
    this.changed();
  }

  private setMarks(chatId: string, user: string, m: Marks): void {
    let per = this.marks.get(chatId);
    if (!per) this.marks.set(chatId, (per = new Map()));
    per.set(user, { delivered: m.delivered, read: m.read });
  }

  private putItem(m: StoredMessage): void {
    this.items.set(m.chatId, insertSorted(this.items.get(m.chatId) ?? [], m));
    const chat = this.chats.get(m.chatId);
    if (chat && m.ts > chat.lastTs) this.chats.set(m.chatId, { ...chat, lastTs: m.ts });
  }

  findItem(chatId: string, key: string): StoredMessage | undefined {
    return this.items.get(chatId)?.find((m) => m.key === key);
  }

  // --- the connection ----------------------------------------------------

  private onHello(ok: HelloOk): boolean {
    if (this.seqState.epoch !== undefined && this.seqState.epoch !== ok.epoch) {
      // This client's inbox was lost or reset on the server: its seqs start
      // over. Keep the history, forget the seq, ask for everything held.
      this.seqState = { epoch: ok.epoch, seq: 0, fresh: true };
      this.generation++;
      void this.db.write({ seq: this.seqState });
      return false;
    }
    if (this.seqState.epoch === undefined) {
      this.seqState = { ...this.seqState, epoch: ok.epoch };
      void this.db.write({ seq: this.seqState });
    }
    // Entries saved before an ack was lost stay unacked on the server: ack again.
    if (this.seqState.seq > 0) queueMicrotask(() => this.connection.post({ type: "ack", upTo: this.seqState.seq }));
    return true;
  }

  private onConnState(s: ConnState): void {
    this.conn = s;
    if (s === "online") {
      this.replaced = false;
      void this.refreshChats();
      void this.pumpOutbox();
      if (this.openChat) this.onChatOpened(this.openChat);
    }
    this.changed();
  }

  private onFatal(code: number): void {
    if (code === 4409) {
      this.replaced = true;
      this.changed();
      return;
    }
    void this.end("revoked");
  }

  /** Takes the connection back after another window of this client took it. */
  useHere(): void {
    this.replaced = false;
    this.connection.start();
    this.changed();
  }

  reconnectNow(): void {
    this.connection.reconnectNow();
  }

  async refreshChats(): Promise<void> {
    let chats: ChatInfo[];
    try {
      chats = ((await this.connection.request({ type: "listChats" })) as { chats: ChatInfo[] }).chats;
    } catch {
      return;
    }
    const seen = new Set<string>();
    const updated: StoredChat[] = [];
    for (const c of chats) {
      seen.add(c.chatId);
      const old = this.chats.get(c.chatId);
      const next: StoredChat = {
        ...(old ?? { lastTs: Date.now() }),
        chatId: c.chatId,
        name: c.name || undefined,
        members: [...c.members].sort(),
        left: false,
      };
      updated.push(next);
    }
    for (const c of this.chats.values()) if (!seen.has(c.chatId) && !c.left) updated.push({ ...c, left: true });
    await this.db.write({ chats: updated });
    for (const c of updated) this.chats.set(c.chatId, c);
    this.changed();
  }

  // --- incoming entries: save, then ack ----------------------------------

  private onEntry(e: Entry): void {
    this.queue.push(e);
    if (!this.draining) void this.drain();
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length && !this.closed) {
        const arrived = this.queue.splice(0);
        const fresh = newEntries(arrived, this.seqState.seq);
        if (fresh.length === 0) {
          // Resent entries this client already saved: the ack was lost.
          this.connection.post({ type: "ack", upTo: this.seqState.seq });
          continue;
        }
        const generation = this.generation;
        const high = highestSeq(fresh, this.seqState.seq);
        const { batch, apply, needChats } = this.applyEntries(fresh);
        batch.seq = { ...this.seqState, seq: high, fresh: false };
        await this.db.write(batch); // durable before the ack
        apply();
        if (generation !== this.generation) {
          // The inbox was reset (new epoch) during the write: these seqs
          // belong to the old one. Keep the messages; put the new seq state back.
          await this.db.write({ seq: this.seqState });
        } else {
          // onHello may have set the epoch during the write: keep it.
          const written = batch.seq.epoch;
          this.seqState = { ...this.seqState, seq: high, fresh: false };
          if (written !== this.seqState.epoch) await this.db.write({ seq: this.seqState });
          this.connection.post({ type: "ack", upTo: high });
        }
        this.changed();
        if (needChats) void this.refreshChats();
        this.markOpenChatRead();
        void this.fetchAttachments();
      }
    } catch (err) {
      // IndexedDB refused the write (quota, private mode): nothing is acked,
      // so the server keeps the entries and sends them again.
      this.notice = `Could not save messages in this browser: ${(err as Error).message}`;
      this.changed();
    } finally {
      this.draining = false;
    }
  }

  /** What a batch of entries changes: the writes, and the in-memory update to run after them. */
  private applyEntries(entries: Entry[]): { batch: Batch; apply: () => void; needChats: boolean } {
    const chats = new Map<string, StoredChat>();
    const items: StoredMessage[] = [];
    const marks = new Map<string, StoredMarks>();
    const clearTyping: [string, string][] = [];
    let needChats = false;
    const chatOf = (id: string): StoredChat | undefined => chats.get(id) ?? this.chats.get(id);
    for (const e of entries) {
      if (e.type === "message") {
        const own = e.fromClient === this.session.clientId ? this.findItem(e.chatId, "o:" + e.clientMsgId) : undefined;
        if (own) continue; // this client's own message (not normally sent back)
        const m = fromMessageEntry(e, this.me);
        for (const a of m.attachments) a.localId = "a:" + a.attachmentId;
        items.push(m);
        const chat = chatOf(e.chatId);
        if (chat) chats.set(e.chatId, { ...chat, lastTs: Math.max(chat.lastTs, e.ts) });
        else {
          chats.set(e.chatId, { chatId: e.chatId, members: [e.from, this.me].sort(), lastTs: e.ts });
          needChats = true;
        }
        clearTyping.push([e.chatId, e.from]);
      } else if (e.type === "chat") {
        const chat = chatOf(e.chatId);
        const members = applyChatEvent(chat?.members ?? [], e);
        const left = e.event === "membersRemoved" && e.members.includes(this.me);
        const joined = e.event !== "membersRemoved" && e.members.includes(this.me);
        chats.set(e.chatId, {
          ...(chat ?? { chatId: e.chatId }),
          members,
          left: left ? true : joined ? false : chat?.left,
          lastTs: Math.max(chat?.lastTs ?? 0, e.ts),
        });
        if (!chat || e.event === "created") needChats = true; // names come from listChats
        items.push(fromChatEntry(e));
      } else if (e.type === "receipt") {
        if (e.user === this.me) {
          if (e.kind === "read") {
            const chat = chatOf(e.chatId);
            if (chat) chats.set(e.chatId, { ...chat, readUpTo: maxPos(chat.readUpTo, e.upTo) });
          }
          continue;
        }
        const id = `${e.chatId}|${e.user}`;
        const old = marks.get(id) ?? { id, chatId: e.chatId, user: e.user, ...this.marks.get(e.chatId)?.get(e.user) };
        const next: StoredMarks = { ...old };
        if (e.kind === "read") next.read = maxPos(old.read, e.upTo);
        next.delivered = maxPos(old.delivered, e.kind === "read" ? maxPos(old.delivered, e.upTo) : e.upTo);
        marks.set(id, next);
      }
    }
    const apply = () => {
      for (const c of chats.values()) this.chats.set(c.chatId, c);
      for (const m of items) this.putItem(m);
      for (const m of marks.values()) this.setMarks(m.chatId, m.user, m);
      for (const [chatId, user] of clearTyping) this.typing.get(chatId)?.delete(user);
    };
    return { batch: { chats: [...chats.values()], messages: items, marks: [...marks.values()] }, apply, needChats };
  }

  // --- typing ------------------------------------------------------------

  private onTyping(e: TypingEvent): void {
    if (e.user === this.me) return;
    let per = this.typing.get(e.chatId);
    if (!per) this.typing.set(e.chatId, (per = new Map()));
    if (e.state === "composing") per.set(e.user, Date.now() + TYPING_SHOWN_MS);
    else per.delete(e.user);
    this.scheduleTypingExpiry();
    this.changed();
  }

  private scheduleTypingExpiry(): void {
    clearTimeout(this.typingTimer);
    let next = Infinity;
    for (const per of this.typing.values()) for (const t of per.values()) next = Math.min(next, t);
    if (next === Infinity) return;
    this.typingTimer = setTimeout(
      () => {
        const now = Date.now();
        for (const per of this.typing.values()) for (const [u, t] of per) if (t <= now) per.delete(u);
        this.scheduleTypingExpiry();
        this.changed();
      },
      Math.max(50, next - Date.now()),
    );
  }

  typingIn(chatId: string): string[] {
    const now = Date.now();
    return [...(this.typing.get(chatId) ?? new Map<string, number>())].filter(([, t]) => t > now).map(([u]) => u);
  }

  /** Called as the person types: `composing` at most every 3 s, `paused` after 4 s idle. */
  composing(chatId: string): void {
    const s = this.typingSent.get(chatId) ?? { at: 0 };
    const now = Date.now();
    if (now - s.at >= TYPING_SEND_EVERY_MS) {
      this.connection.post({ type: "typing", chatId, state: "composing" });
      s.at = now;
    }
    clearTimeout(s.idle);
    s.idle = setTimeout(() => this.paused(chatId), TYPING_IDLE_MS);
    this.typingSent.set(chatId, s);
  }

  paused(chatId: string): void {
    const s = this.typingSent.get(chatId);
    if (!s) return;
    clearTimeout(s.idle);
    this.typingSent.delete(chatId);
    this.connection.post({ type: "typing", chatId, state: "paused" });
  }

  // --- reading -----------------------------------------------------------

  private readonly onVisibility = () => this.markOpenChatRead();

  open(chatId: string | undefined): void {
    this.openChat = chatId;
    clearInterval(this.presenceTimer);
    if (chatId) this.onChatOpened(chatId);
    this.changed();
  }

  private onChatOpened(chatId: string): void {
    this.markOpenChatRead();
    void this.loadReceipts(chatId);
    const chat = this.chats.get(chatId);
    const peer = chat && !chat.name && chat.members.length === 2 ? chat.members.find((m) => m !== this.me) : undefined;
    clearInterval(this.presenceTimer);
    if (peer) {
      void this.refreshPresence(peer);
      this.presenceTimer = setInterval(() => void this.refreshPresence(peer), PRESENCE_EVERY_MS);
    }
  }

  private async refreshPresence(user: string): Promise<void> {
    try {
      const ok = await this.connection.request({ type: "lastSeen", user });
      this.presence.set(user, { online: ok.online === true, lastSeen: typeof ok.lastSeen === "number" ? ok.lastSeen : null });
      this.changed();
    } catch {
      /* offline: keep the last answer */
    }
  }

  private async loadReceipts(chatId: string): Promise<void> {
    let members: MemberReceipts[];
    try {
      members = ((await this.connection.request({ type: "chatReceipts", chatId })) as { members: MemberReceipts[] }).members;
    } catch {
      return;
    }
    const writes: StoredMarks[] = [];
    for (const m of members) {
      const old = this.marks.get(chatId)?.get(m.user);
      const next: StoredMarks = {
        id: `${chatId}|${m.user}`,
        chatId,
        user: m.user,
        delivered: maxPos(old?.delivered, m.delivered ?? undefined),
        read: maxPos(old?.read, m.read ?? undefined),
      };
      writes.push(next);
    }
    await this.db.write({ marks: writes });
    for (const m of writes) this.setMarks(chatId, m.user, m);
    this.changed();
  }

  private markOpenChatRead(): void {
    const chatId = this.openChat;
    if (!chatId || document.visibilityState !== "visible" || !this.connection.online) return;
    const chat = this.chats.get(chatId);
    const last = lastFromOthers(this.items.get(chatId) ?? [], this.me);
    if (!chat || !last || (chat.readUpTo && comparePos(chat.readUpTo, last) >= 0)) return;
    const next = { ...chat, readUpTo: last };
    this.chats.set(chatId, next);
    void this.db.write({ chats: [next] });
    this.changed();
    this.connection.request({ type: "markRead", chatId, upTo: last }).catch(() => {
      // Offline or refused: the next open marks it again.
    });
  }

  // --- sending -----------------------------------------------------------

  async send(chatId: string, body: string, files: File[] = []): Promise<void> {
    const clientMsgId = newClientMsgId((n) => crypto.getRandomValues(new Uint8Array(n)));
    const attachments: StoredAttachment[] = [];
    for (const [i, f] of files.entries()) {
      const localId = `l:${clientMsgId}:${i}`;
      await this.db.putBlob(localId, f);
      attachments.push({
        name: safeFileName(f.name),
        contentType: makeContentType(f.type || "application/octet-stream", f.name),
        size: f.size,
        local: true,
        localId,
      });
    }
    const m: StoredMessage = {
      key: "o:" + clientMsgId,
      chatId,
      ts: Date.now(),
      from: this.me,
      body,
      attachments,
      clientMsgId,
      state: "sending",
    };
    await this.db.write({ messages: [m] });
    this.putItem(m);
    this.paused(chatId);
    this.changed();
    void this.pumpOutbox();
  }

  retry(chatId: string, key: string): void {
    const m = this.findItem(chatId, key);
    if (!m || m.state !== "failed") return;
    void this.saveItem({ ...m, state: "sending", error: undefined }).then(() => this.pumpOutbox());
  }

  private async saveItem(m: StoredMessage): Promise<void> {
    await this.db.write({ messages: [m] });
    this.putItem(m);
    this.changed();
  }

  /** Sends queued messages in order, one at a time, while online. */
  private async pumpOutbox(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (!this.connection.online || this.closed) return;
        const next = this.nextQueued();
        if (!next) return;
        const outcome = await this.sendOne(next);
        if (outcome === "offline") return;
      }
    } finally {
      this.pumping = false;
    }
  }

  private nextQueued(): StoredMessage | undefined {
    let best: StoredMessage | undefined;
    for (const list of this.items.values())
      for (const m of list)
        if (m.state === "sending" && m.from === this.me && m.key.startsWith("o:") && (!best || m.ts < best.ts)) best = m;
    return best;
  }

  private async sendOne(m: StoredMessage): Promise<"done" | "offline"> {
    try {
      const ids: string[] = [];
      for (let i = 0; i < m.attachments.length; i++) {
        m = await this.uploadAttachment(m, i);
        ids.push(m.attachments[i].attachmentId!);
      }
      for (;;) {
        try {
          const ok = await this.connection.request({
            type: "send",
            chatId: m.chatId,
            clientMsgId: m.clientMsgId,
            body: m.body,
            ...(ids.length ? { attachments: ids } : {}),
          });
          const sent: StoredMessage = { ...m, messageId: String(ok.messageId), ts: Number(ok.ts), state: "sent", error: undefined };
          await this.saveItem(sent);
          return "done";
        } catch (err) {
          if (!(err instanceof ProtocolError) || (err.code !== "rate_limited" && err.code !== "unavailable")) throw err;
          await new Promise((r) => setTimeout(r, err.retryAfterMs ?? 1000 + Math.random() * 1000));
        }
      }
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError("internal", String(err));
      if (e.code === "offline" || e.code === "timeout") return "offline"; // stays queued: sent on reconnect
      await this.saveItem({ ...m, state: "failed", error: e.message });
      return "done";
    }
  }

  /** Uploads attachment i of m (attachTarget, then PUT with progress); returns m updated. */
  private async uploadAttachment(m: StoredMessage, i: number): Promise<StoredMessage> {
    const att = m.attachments[i];
    if (att.attachmentId) return m; // uploaded before a reconnect or reload
    const blob = await this.db.getBlob(att.localId!);
    if (!blob) throw new ProtocolError("not_found", `${att.name}: the file is no longer in this browser`);
    const digest = await sha256Bytes(await blob.arrayBuffer());
    const target = await this.connection.request({
      type: "attachTarget",
      contentType: att.contentType,
      size: blob.size,
      sha256: hex(digest),
    });
    this.uploads.set(att.localId!, 0);
    this.changed();
    try {
      await api.upload(String(target.uploadUrl), blob, att.contentType, base64(digest), (f) => {
        this.uploads.set(att.localId!, f);
        this.changed();
      });
    } finally {
      this.uploads.delete(att.localId!);
    }
    const attachments = m.attachments.slice();
    attachments[i] = { ...att, attachmentId: String(target.attachmentId), sha256: hex(digest) };
    const next = { ...m, attachments };
    await this.saveItem(next);
    return next;
  }

  // --- attachments: fetched once, verified, kept in the browser ----------

  private async fetchAttachments(): Promise<void> {
    for (const list of this.items.values())
      for (const m of list)
        for (const a of m.attachments)
          if (!a.local && !a.error && a.url && a.size <= AUTO_DOWNLOAD_MAX) void this.fetchAttachment(m.chatId, m.key, a.localId!);
  }

  /** Downloads an attachment, checks its sha256, keeps the bytes in IndexedDB. */
  async fetchAttachment(chatId: string, key: string, localId: string): Promise<void> {
    if (this.downloading.has(localId)) return;
    this.downloading.add(localId);
    let error: string | undefined;
    try {
      const m = this.findItem(chatId, key);
      const a = m?.attachments.find((x) => x.localId === localId);
      if (!m || !a?.url) return;
      try {
        const blob = await api.download(a.url);
        const digest = hex(await sha256Bytes(await blob.arrayBuffer()));
        if (blob.size !== a.size) error = `size differs (${blob.size} bytes, expected ${a.size})`;
        else if (a.sha256 && digest !== a.sha256.toLowerCase()) error = "the file does not match its checksum";
        else await this.db.putBlob(localId, blob);
      } catch (err) {
        error = (err as Error).message;
      }
      const now = this.findItem(chatId, key);
      if (!now) return;
      const attachments = now.attachments.map((x) => (x.localId === localId ? { ...x, local: !error, error } : x));
      await this.saveItem({ ...now, attachments });
    } finally {
      this.downloading.delete(localId);
    }
  }

  /** An object URL for bytes kept in IndexedDB. */
  async blobUrl(localId: string): Promise<string | undefined> {
    const cached = this.blobUrls.get(localId);
    if (cached) return cached;
    const blob = await this.db.getBlob(localId);
    if (!blob) return undefined;
    const url = URL.createObjectURL(blob);
    this.blobUrls.set(localId, url);
    return url;
  }

  // --- chats and members -------------------------------------------------

  async createChat(members: string[], name?: string): Promise<string> {
    const ok = await this.connection.request({ type: "createChat", members, ...(name ? { name } : {}) });
    const chatId = String(ok.chatId);
    const all = [...new Set([...members, this.me])].sort();
    if (!this.chats.has(chatId)) {
      const chat: StoredChat = { chatId, name: name || undefined, members: all, lastTs: Date.now() };
      await this.db.write({ chats: [chat] });
      this.chats.set(chatId, chat);
    }
    await this.recordOwnEvent(chatId, "created", all);
    void this.refreshChats();
    return chatId;
  }

  async addMembers(chatId: string, members: string[]): Promise<void> {
    await this.connection.request({ type: "addMembers", chatId, members });
    const current = this.chats.get(chatId)?.members ?? [];
    await this.recordOwnEvent(chatId, "membersAdded", members.filter((m) => !current.includes(m)));
  }

  async removeMembers(chatId: string, members: string[]): Promise<void> {
    await this.connection.request({ type: "removeMembers", chatId, members });
    const current = this.chats.get(chatId)?.members ?? [];
    await this.recordOwnEvent(chatId, "membersRemoved", members.filter((m) => current.includes(m)));
  }

  /**
   * The server sends a chat event to every client but the one that caused
   * it (which has its `ok`): this client writes its own into its history.
   */
  private async recordOwnEvent(chatId: string, event: string, members: string[]): Promise<void> {
    const chat = this.chats.get(chatId);
    if (!chat || members.length === 0) return;
    const e: ChatEntry = { type: "chat", seq: 0, chatId, event, members, by: this.me, ts: Date.now() };
    const next: StoredChat = {
      ...chat,
      members: applyChatEvent(chat.members, e),
      left: event === "membersRemoved" && members.includes(this.me) ? true : chat.left,
      lastTs: Math.max(chat.lastTs, e.ts),
    };
    const item = fromChatEntry(e);
    await this.db.write({ chats: [next], messages: [item] });
    this.chats.set(chatId, next);
    this.putItem(item);
    this.changed();
  }

  /** The privacy settings as this device last set them (the server's defaults before). */
  privacy(): PrivacySettings {
    try {
      const p = JSON.parse(localStorage.getItem(`ferry.privacy.${this.me}`) ?? "null");
      if (p && typeof p.readReceipts === "boolean" && (p.lastSeen === "everyone" || p.lastSeen === "nobody")) return p;
    } catch {
      /* defaults */
    }
    return { readReceipts: true, lastSeen: "everyone" };
  }

  async setPrivacy(change: Partial<PrivacySettings>): Promise<PrivacySettings> {
    const ok = await this.connection.request({ type: "setPrivacy", ...change });
    const p: PrivacySettings = { readReceipts: ok.readReceipts !== false, lastSeen: ok.lastSeen === "nobody" ? "nobody" : "everyone" };
    localStorage.setItem(`ferry.privacy.${this.me}`, JSON.stringify(p));
    return p;
  }

  // --- devices and the end of a session ----------------------------------

  listDevices(): Promise<ClientInfo[]> {
    return api.listClients(this.session.token);
  }

  async revokeDevice(clientId: string): Promise<void> {
    await api.deleteClient(this.session.token, clientId);
  }

  /** Logs out: deletes this client on the server (so nothing queues for it) and its local data. */
  async logout(): Promise<void> {
    try {
      await api.deleteClient(this.session.token, this.session.clientId);
    } catch {
      /* already gone, or offline: the local data goes anyway */
    }
    await this.end("logout");
  }

  private async end(reason: EndReason): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connection.stop();
    clearInterval(this.presenceTimer);
    clearTimeout(this.typingTimer);
    document.removeEventListener("visibilitychange", this.onVisibility);
    for (const url of this.blobUrls.values()) URL.revokeObjectURL(url);
    this.db.close();
    await LocalDb.destroy(this.session.user, this.session.clientId);
    saveSession(undefined);
    this.onEnd(reason);
  }

  dismissNotice(): void {
    this.notice = undefined;
    this.changed();
  }
}

export type { Position };
