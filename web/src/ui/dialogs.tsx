import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { ChatApp } from "../app";
import { ProtocolError } from "../protocol";
import { useAction } from "./hooks";

/** A modal <dialog>: Escape and the Close button close it. */
function Modal({ label, onClose, children }: { label: string; onClose(): void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current!;
    if (!d.open) d.showModal();
    const cancel = (e: Event) => {
      e.preventDefault();
      onClose();
    };
    d.addEventListener("cancel", cancel);
    return () => d.removeEventListener("cancel", cancel);
  }, []);
  return (
    <dialog ref={ref} aria-label={label} class="modal">
      <header class="bar">
        <h3>{label}</h3>
        <span class="spacer" />
        <button type="button" class="secondary" onClick={onClose}>
          Close
        </button>
      </header>
      {children}
    </dialog>
  );
}

function userList(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).map((s) => s.trim().toLowerCase()).filter(Boolean))];
}

function explain(err: unknown): string {
  if (!(err instanceof ProtocolError)) return String(err);
  if (err.code === "not_found") return "No such user (or chat). Check the names.";
  if (err.code === "too_many_members") return "A chat has at most 100 members.";
  if (err.code === "forbidden") return "You are not a member of this chat.";
  if (err.code === "offline" || err.code === "timeout") return "You are offline. Try again once connected.";
  return err.message || err.code;
}

export function NewChatDialog({ app, onClose }: { app: ChatApp; onClose(chatId?: string): void }) {
  const [members, setMembers] = useState("");
  const [name, setName] = useState("");
  const { busy, error, setError, run } = useAction(explain);
  return (
    <Modal label="New chat" onClose={() => onClose()}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const list = userList(members).filter((u) => u !== app.me);
          if (list.length === 0) return setError("Name at least one other user.");
          if (list.length > 99) return setError("A chat has at most 100 members.");
          void run(async () => onClose(await app.createChat(list, name.trim() || undefined)));
        }}
      >
        <label>
          Members
          <input value={members} onInput={(e) => setMembers(e.currentTarget.value)} placeholder="bob, carol" required />
        </label>
        <label>
          Group name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="(optional for 1:1)" maxLength={256} />
        </label>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Create
        </button>
      </form>
    </Modal>
  );
}

export function MembersDialog({ app, chatId, onClose }: { app: ChatApp; chatId: string; onClose(): void }) {
  const chat = app.chats.get(chatId)!;
  const [add, setAdd] = useState("");
  const { busy, error, run } = useAction(explain);
  return (
    <Modal label="Members" onClose={onClose}>
      <ul class="members" aria-label="Chat members">
        {chat.members.map((u) => (
          <li key={u}>
            <span>{u === app.me ? `${u} (you)` : u}</span>
            {u !== app.me && !chat.left && (
              <button type="button" class="secondary" disabled={busy} onClick={() => void run(() => app.removeMembers(chatId, [u]))}>
                Remove {u}
              </button>
            )}
          </li>
        ))}
      </ul>
      {!chat.left && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const list = userList(add);
            if (list.length) void run(async () => {
              await app.addMembers(chatId, list);
              setAdd("");
            });
          }}
        >
          <label>
            Add members
            <input value={add} onInput={(e) => setAdd(e.currentTarget.value)} placeholder="dave, erin" />
          </label>
          <button type="submit" disabled={busy}>
            Add
          </button>
        </form>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {!chat.left && (
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() =>
            void run(async () => {
              await app.removeMembers(chatId, [app.me]);
              onClose();
            })
          }
        >
          Leave chat
        </button>
      )}
    </Modal>
  );
}

export function ImageDialog({ name, url, onClose }: { name: string; url: string; onClose(): void }) {
  return (
    <Modal label={name} onClose={onClose}>
      <img class="full" src={url} alt={name} />
      <p>
        <a href={url} download={name}>
          Download {name}
        </a>
      </p>
    </Modal>
  );
}
