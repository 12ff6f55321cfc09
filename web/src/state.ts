// Pure state code: ordering, seq tracking, receipts, unread counts,
// backoff, attachment names. No DOM, no IndexedDB: unit-tested with node.
import type { AttachmentRef, ChatEntry, Entry, MessageEntry, Position } from "./protocol";

export type OwnState = "sending" | "sent" | "delivered" | "read" | "failed";
export type MessageState = OwnState | "received";

export interface StoredAttachment {
  attachmentId?: string;
  name: string;
  contentType: string; // as sent on the wire, with the name parameter
  size: number;
  sha256?: string;
  url?: string; // pre-signed GET (others' messages)
  local?: boolean; // the bytes are in IndexedDB
  localId?: string; // key of the bytes in IndexedDB
  error?: string; // download or verification failure
}

/** One item of a conversation: a message, or a chat event. */
export interface StoredMessage {
  key: string; // "m:ID" for messages from the server, "o:CLIENTMSGID" for this device's own
  chatId: string;
  messageId?: string;
  ts: number; // server time; local time while still sending
  from: string;
  body: string;
  attachments: StoredAttachment[];
  clientMsgId?: string;
  state: MessageState;
  error?: string;
  event?: { event: string; members: string[]; by: string };
}

export interface StoredChat {
  chatId: string;
  name?: string;
  members: string[];
  left?: boolean; // this user is no longer a member
  readUpTo?: Position; // this user's own read mark
  lastTs: number; // for sorting the list; creation time until a message
}

export interface Marks {
  delivered?: Position;
  read?: Position;
}

export function comparePos(a: Position, b: Position): number {
  if (a.ts !== b.ts) return a.ts < b.ts ? -1 : 1;
  return a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0;
}

export function maxPos(a: Position | undefined, b: Position | undefined): Position | undefined {
  if (!a) return b;
  if (!b) return a;
  return comparePos(a, b) >= 0 ? a : b;
}

/** Where a message sorts: (ts, messageId); an unsent one by its key. */
export function sortKey(m: StoredMessage): Position {
  return { ts: m.ts, messageId: m.messageId ?? m.key };
}

/** The list with `m` in its place (replacing an item with the same key). */
export function insertSorted(list: readonly StoredMessage[], m: StoredMessage): StoredMessage[] {
  const out = list.filter((x) => x.key !== m.key);
  const k = sortKey(m);
  let lo = 0;
  let hi = out.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (comparePos(sortKey(out[mid]), k) <= 0) lo = mid + 1;
    else hi = mid;
  }
  out.splice(lo, 0, m);
  return out;
}

/** The entries of a batch this client does not have yet (seq above `seq`), in order. */
export function newEntries(entries: readonly Entry[], seq: number): Entry[] {
  const out: Entry[] = [];
  let high = seq;
  for (const e of entries) {
    if (e.seq > high) {
      out.push(e);
      high = e.seq;
    }
  }
  return out;
}

export function highestSeq(entries: readonly Entry[], seq: number): number {
  return entries.reduce((h, e) => Math.max(h, e.seq), seq);
}

/** The item an incoming message entry becomes. */
export function fromMessageEntry(e: MessageEntry, me: string): StoredMessage {
  return {
    key: "m:" + e.messageId,
    chatId: e.chatId,
    messageId: e.messageId,
    ts: e.ts,
    from: e.from,
    body: e.body,
    attachments: (e.attachments ?? []).map(fromAttachmentRef),
    clientMsgId: e.clientMsgId,
    state: e.from === me ? "sent" : "received",
  };
}

export function fromChatEntry(e: ChatEntry): StoredMessage {
  return {
    key: `e:${e.ts}:${e.event}:${e.by}:${e.members.join(",")}`,
    chatId: e.chatId,
    ts: e.ts,
    from: e.by,
    body: "",
    attachments: [],
    state: "received",
    event: { event: e.event, members: e.members, by: e.by },
  };
}

export function fromAttachmentRef(a: AttachmentRef): StoredAttachment {
  return {
    attachmentId: a.attachmentId,
    name: parseContentType(a.contentType).name ?? `file-${a.attachmentId.slice(0, 8)}`,
    contentType: a.contentType,
    size: a.size,
    sha256: a.sha256,
    url: a.url,
  };
}

/** Members after a chat event (members of "created", added or removed ones). */
export function applyChatEvent(members: readonly string[], e: ChatEntry): string[] {
  if (e.event === "created") return [...e.members].sort();
  if (e.event === "membersAdded") return [...new Set([...members, ...e.members])].sort();
  if (e.event === "membersRemoved") return members.filter((m) => !e.members.includes(m));
  return [...members];
}

export function describeEvent(ev: { event: string; members: string[]; by: string }, me: string): string {
  const who = (u: string) => (u === me ? "you" : u);
  const list = (us: string[]) => us.map(who).join(", ");
  const by = ev.by === me ? "You" : ev.by;
  if (ev.event === "created") return `${by} created this chat with ${list(ev.members.filter((m) => m !== ev.by))}`;
  if (ev.event === "membersAdded") return `${by} added ${list(ev.members)}`;
  if (ev.event === "membersRemoved") {
    if (ev.members.length === 1 && ev.members[0] === ev.by) return `${by} left`;
    return `${by} removed ${list(ev.members)}`;
  }
  return `${by}: ${ev.event}`;
}

/** Messages from others after this user's read mark. */
export function unreadCount(items: readonly StoredMessage[], me: string, readUpTo?: Position): number {
  let n = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const m = items[i];
    if (readUpTo && comparePos(sortKey(m), readUpTo) <= 0) break;
    if (!m.event && m.from !== me && m.messageId) n++;
  }
  return n;
}

/** The newest message from someone else: what opening the chat marks read. */
export function lastFromOthers(items: readonly StoredMessage[], me: string): Position | undefined {
  for (let i = items.length - 1; i >= 0; i--) {
    const m = items[i];
    if (!m.event && m.from !== me && m.messageId) return { ts: m.ts, messageId: m.messageId };
  }
  return undefined;
}

/**
 * The ticks of an own message: "read" once every other member has read up
 * to it, "delivered" once every other member's devices have it.
 */
export function ownState(
  m: StoredMessage,
  me: string,
  members: readonly string[],
  marks: ReadonlyMap<string, Marks>,
): MessageState {
  if (m.from !== me || m.event) return m.state;
  if (m.state !== "sent" || !m.messageId) return m.state;
  const pos = { ts: m.ts, messageId: m.messageId };
  const others = members.filter((u) => u !== me);
  if (others.length === 0) return "sent";
  const reached = (kind: keyof Marks) =>
    others.every((u) => {
      const p = marks.get(u)?.[kind];
      return p !== undefined && comparePos(p, pos) >= 0;
    });
  if (reached("read")) return "read";
  if (reached("delivered")) return "delivered";
  return "sent";
}

/** Reconnect delay: exponential from 500 ms to 30 s, full jitter, at least 250 ms. */
export function backoffMs(attempt: number, random: number): number {
  const cap = Math.min(30_000, 500 * 2 ** Math.min(attempt, 16));
  return Math.max(250, Math.floor(cap * random));
}

/** `image/png; name="photo.png"` → {type: "image/png", name: "photo.png"}. */
export function parseContentType(ct: string): { type: string; name?: string } {
  const [type, ...params] = ct.split(";");
  let name: string | undefined;
  for (const p of params) {
    const eq = p.indexOf("=");
    if (eq < 0) continue;
    const key = p.slice(0, eq).trim().toLowerCase();
    let value = p.slice(eq + 1).trim();
    if (key === "name*") {
      const m = /^utf-8''(.*)$/i.exec(value);
      if (m) {
        try {
          name = decodeURIComponent(m[1]);
        } catch {
          /* keep looking */
        }
      }
    } else if (key === "name" && name === undefined) {
      if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
        value = value.slice(1, -1).replace(/\\(.)/g, "$1");
      }
      name = value;
    }
  }
  return { type: type.trim().toLowerCase(), name: name ? safeFileName(name) : undefined };
}

/**
 * The content type sent for a file: its MIME type with the file name as the
 * `name` parameter (RFC 2045; RFC 2231 `name*` for non-ASCII names), within
 * the protocol's 255 printable ASCII characters.
 */
export function makeContentType(type: string, name: string): string {
  const base = /^[\x21-\x7e]+\/[\x21-\x7e]+$/.test(type) && type.length <= 100 ? type.toLowerCase() : "application/octet-stream";
  let n = safeFileName(name);
  for (;;) {
    const ascii = /^[\x20-\x7e]*$/.test(n);
    const param = ascii
      ? `name="${n.replace(/["\\]/g, "\\$&")}"`
      : `name*=UTF-8''${encodeURIComponent(n).replace(/['()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())}`;
    const ct = `${base}; ${param}`;
    if (ct.length <= 255 || n.length <= 1) return ct.length <= 255 ? ct : base;
    n = shortenName(n);
  }
}

function shortenName(n: string): string {
  const dot = n.lastIndexOf(".");
  const ext = dot > 0 && n.length - dot <= 10 ? n.slice(dot) : "";
  const stem = n.slice(0, n.length - ext.length);
  return stem.slice(0, Math.max(1, Math.floor(stem.length * 0.8))) + ext;
}

/** A name safe to offer as a download: no path, no control characters. */
export function safeFileName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  const clean = base.replace(/[\x00-\x1f\x7f]/g, "").trim();
  if (clean === "" || clean === "." || clean === "..") return "file";
  let n = clean;
  while (n.length > 200) n = shortenName(n); // keeps the extension
  return n;
}

export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** A fresh clientMsgId: 16 random bytes, hex. */
export function newClientMsgId(random: (n: number) => Uint8Array): string {
  return Array.from(random(16), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function chatTitle(chat: Pick<StoredChat, "name" | "members">, me: string): string {
  if (chat.name) return chat.name;
  const others = chat.members.filter((m) => m !== me);
  return others.length ? others.join(", ") : "(just you)";
}

/** The other member of a 1:1 chat (no name, two members), else undefined. */
export function peerOf(chat: Pick<StoredChat, "name" | "members">, me: string): string | undefined {
  if (chat.name || chat.members.length !== 2) return undefined;
  return chat.members.find((m) => m !== me);
}

export function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

export function dayLabel(ts: number, now: number): string {
  if (dayKey(ts) === dayKey(now)) return "Today";
  if (dayKey(ts) === dayKey(now - 86_400_000)) return "Yesterday";
  return new Date(ts).toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
}

export function timeLabel(ts: number): string {
  return new Date(ts).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function lastSeenLabel(ts: number, now: number): string {
  const day = dayKey(ts) === dayKey(now) ? "today" : dayKey(ts) === dayKey(now - 86_400_000) ? "yesterday" : new Date(ts).toLocaleDateString();
  return `last seen ${day} at ${timeLabel(ts)}`;
}

/** "Chrome on Linux", from the user agent. */
export function browserName(ua: string): string {
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Firefox\//.test(ua)
      ? "Firefox"
      : /Chrom(e|ium)\//.test(ua)
        ? "Chrome"
        : /Safari\//.test(ua)
          ? "Safari"
          : "Browser";
  const os = /Android/.test(ua)
    ? "Android"
    : /iPhone|iPad/.test(ua)
      ? "iOS"
      : /Windows/.test(ua)
        ? "Windows"
        : /Mac OS X/.test(ua)
          ? "macOS"
          : /Linux/.test(ua)
            ? "Linux"
            : "";
  return os ? `${browser} on ${os}` : browser;
}
