// The browser's copy of this client's history (IndexedDB, one database per
// user and client). The server deletes entries once acked, so what is here
// is the only history there is: entries are written here first, then acked.
import { openDB, type DBSchema, type IDBPDatabase } from "idb";
import type { Position } from "./protocol";
import type { Marks, StoredChat, StoredMessage } from "./state";

export interface SeqState {
  epoch?: string;
  seq: number; // highest seq saved here; 0 = none yet
  fresh: boolean; // true until the first hello: ask for every entry held
}

export interface StoredMarks extends Marks {
  id: string; // chatId|user
  chatId: string;
  user: string;
}

interface FerrySchema extends DBSchema {
  meta: { key: string; value: unknown };
  chats: { key: string; value: StoredChat };
  messages: { key: string; value: StoredMessage; indexes: { chat: string } };
  marks: { key: string; value: StoredMarks };
  blobs: { key: string; value: Blob };
}

export interface Batch {
  messages?: StoredMessage[];
  deleteMessages?: string[];
  chats?: StoredChat[];
  marks?: StoredMarks[];
  seq?: SeqState;
}

export class LocalDb {
  private constructor(private readonly db: IDBPDatabase<FerrySchema>) {}

  static async open(user: string, clientId: string): Promise<LocalDb> {
    const db = await openDB<FerrySchema>(LocalDb.nameFor(user, clientId), 1, {
      upgrade(db) {
        db.createObjectStore("meta");
        db.createObjectStore("chats", { keyPath: "chatId" });
        db.createObjectStore("messages", { keyPath: "key" }).createIndex("chat", "chatId");
        db.createObjectStore("marks", { keyPath: "id" });
        db.createObjectStore("blobs");
      },
    });
    return new LocalDb(db);
  }

  static nameFor(user: string, clientId: string): string {
    return `ferry:${user}:${clientId}`;
  }

  static async destroy(user: string, clientId: string): Promise<void> {
    await new Promise<void>((resolve) => {
      const req = indexedDB.deleteDatabase(LocalDb.nameFor(user, clientId));
      req.onsuccess = req.onerror = req.onblocked = () => resolve();
    });
  }

  close(): void {
    this.db.close();
  }

  async seqState(): Promise<SeqState> {
    const s = (await this.db.get("meta", "seq")) as SeqState | undefined;
    return s ?? { seq: 0, fresh: true };
  }

  async loadAll(): Promise<{ chats: StoredChat[]; messages: StoredMessage[]; marks: StoredMarks[] }> {
    const tx = this.db.transaction(["chats", "messages", "marks"], "readonly");
    const [chats, messages, marks] = await Promise.all([
      tx.objectStore("chats").getAll(),
      tx.objectStore("messages").getAll(),
      tx.objectStore("marks").getAll(),
    ]);
    return { chats, messages, marks };
  }

  /** Writes a batch in one transaction that is durable once this resolves. */
  async write(batch: Batch): Promise<void> {
    const tx = this.db.transaction(["meta", "chats", "messages", "marks"], "readwrite", { durability: "strict" });
    const ops: Promise<unknown>[] = [];
    for (const k of batch.deleteMessages ?? []) ops.push(tx.objectStore("messages").delete(k));
    for (const m of batch.messages ?? []) ops.push(tx.objectStore("messages").put(m));
    for (const c of batch.chats ?? []) ops.push(tx.objectStore("chats").put(c));
    for (const m of batch.marks ?? []) ops.push(tx.objectStore("marks").put(m));
    if (batch.seq) ops.push(tx.objectStore("meta").put(batch.seq, "seq"));
    await Promise.all([...ops, tx.done]);
  }

  async putBlob(key: string, blob: Blob): Promise<void> {
    await this.db.put("blobs", blob, key);
  }

  async getBlob(key: string): Promise<Blob | undefined> {
    return this.db.get("blobs", key);
  }

  async setReadMark(chat: StoredChat, upTo: Position): Promise<void> {
    await this.db.put("chats", { ...chat, readUpTo: upTo });
  }
}
