// The frames of docs/protocol.md that the web client uses.

export interface Position {
  ts: number;
  messageId: string;
}

export interface AttachmentRef {
  attachmentId: string;
  contentType: string;
  size: number;
  url: string;
  sha256?: string;
}

export interface MessageEntry {
  type: "message";
  seq: number;
  chatId: string;
  messageId: string;
  ts: number;
  from: string;
  fromClient: string;
  body: string;
  attachments: AttachmentRef[];
  clientMsgId: string;
}

export interface ChatEntry {
  type: "chat";
  seq: number;
  chatId: string;
  event: "created" | "membersAdded" | "membersRemoved" | string;
  members: string[];
  by: string;
  ts: number;
}

export interface ReceiptEntry {
  type: "receipt";
  seq: number;
  chatId: string;
  user: string;
  kind: "delivered" | "read";
  upTo: Position;
  ts: number;
}

export type Entry = MessageEntry | ChatEntry | ReceiptEntry;

export interface TypingEvent {
  type: "typing";
  chatId: string;
  user: string;
  state: "composing" | "paused";
}

export interface PingEvent {
  type: "ping";
  head?: number;
}

export interface ChatInfo {
  chatId: string;
  name?: string;
  members: string[];
}

export interface ClientInfo {
  clientId: string;
  device: string;
  lastActive: number;
}

export interface MemberReceipts {
  user: string;
  delivered: Position | null;
  read: Position | null;
}

/** An `error` reply, or an HTTP error body. */
export class ProtocolError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message || code);
  }
}

export function isEntry(frame: { type?: unknown; seq?: unknown }): frame is Entry {
  return (
    (frame.type === "message" || frame.type === "chat" || frame.type === "receipt") &&
    typeof frame.seq === "number"
  );
}
