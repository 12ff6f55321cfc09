import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import type { ChatApp } from "../app";
import {
  chatTitle,
  dayKey,
  dayLabel,
  describeEvent,
  formatSize,
  lastSeenLabel,
  ownState,
  parseContentType,
  peerOf,
  timeLabel,
  type StoredAttachment,
  type StoredMessage,
} from "../state";
import { ImageDialog, MembersDialog } from "./dialogs";
import { useTick } from "./hooks";

const TICKS: Record<string, string> = { sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!" };
const TICK_LABEL: Record<string, string> = {
  sending: "sending",
  sent: "sent",
  delivered: "delivered",
  read: "read",
  failed: "not sent",
};

export function Conversation({ app, chatId }: { app: ChatApp; chatId: string }) {
  useTick(1000);
  const chat = app.chats.get(chatId)!;
  const items = app.items.get(chatId) ?? [];
  const [members, setMembers] = useState(false);
  const [text, setText] = useState("");
  const [dragging, setDragging] = useState(false);
  const dragDepth = useRef(0);
  const logRef = useRef<HTMLDivElement>(null);
  const fileRef = useRef<HTMLInputElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const marks = app.marks.get(chatId) ?? new Map();
  const peer = peerOf(chat, app.me);
  const typing = app.typingIn(chatId);

  // Stay at the bottom as messages arrive, unless the person scrolled up.
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const el = logRef.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [items.length, items[items.length - 1]?.key]);
  useEffect(() => inputRef.current?.focus(), [chatId]);

  let status = "";
  if (typing.length) status = `${typing.join(", ")} ${typing.length > 1 ? "are" : "is"} typing…`;
  else if (peer && app.conn !== "online") status = ""; // a last answer is stale while disconnected
  else if (peer) {
    const p = app.presence.get(peer);
    status = p ? (p.online ? "online" : p.lastSeen ? lastSeenLabel(p.lastSeen, Date.now()) : "") : "";
  } else status = chat.members.join(", ");

  function submit() {
    const body = text.trim();
    if (!body || chat.left) return;
    setText("");
    void app.send(chatId, body);
  }

  function attach(files: FileList | File[] | null) {
    if (!files || files.length === 0 || chat.left) return;
    const list = Array.from(files).slice(0, 10);
    const body = text.trim();
    setText("");
    void app.send(chatId, body, list);
  }

  let prevDay = "";
  return (
    <div
      class={`conversation ${dragging ? "dragging" : ""}`}
      onDragEnter={() => {
        dragDepth.current++;
        setDragging(true);
      }}
      onDragOver={(e) => e.preventDefault()}
      onDragLeave={() => {
        // dragleave fires for every child crossed: only the last one ends it
        if (--dragDepth.current <= 0) setDragging(false);
      }}
      onDrop={(e) => {
        e.preventDefault();
        dragDepth.current = 0;
        setDragging(false);
        attach(e.dataTransfer?.files ?? null);
      }}
    >
      <header class="bar">
        <button type="button" class="back secondary" onClick={() => app.open(undefined)}>
          Back
        </button>
        <div class="heading">
          <h2>{chatTitle(chat, app.me)}</h2>
          <div data-testid="presence" class={`presence ${typing.length ? "typing" : ""}`}>
            {status}
          </div>
        </div>
        <button type="button" class="secondary" onClick={() => setMembers(true)}>
          Members
        </button>
      </header>
      <div
        role="log"
        aria-label="Messages"
        class="log"
        ref={logRef}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {items.map((m) => {
          const day = dayKey(m.ts);
          const sep = day !== prevDay;
          prevDay = day;
          return (
            <>
              {sep && (
                <div data-testid="day" class="day" key={"d" + day}>
                  <span>{dayLabel(m.ts, Date.now())}</span>
                </div>
              )}
              {m.event ? (
                <div data-testid="chat-event" class="event" key={m.key}>
                  {describeEvent(m.event, app.me)}
                </div>
              ) : (
                <Message
                  key={m.key}
                  app={app}
                  m={m}
                  group={chat.members.length > 2 || !!chat.name}
                  state={ownState(m, app.me, chat.members, marks)}
                />
              )}
            </>
          );
        })}
      </div>
      {chat.left ? (
        <p class="left-note">You are no longer a member of this chat.</p>
      ) : (
        <form
          class="composer"
          onSubmit={(e) => {
            e.preventDefault();
            submit();
          }}
        >
          <button type="button" class="secondary icon" aria-label="Attach file" title="Attach file" onClick={() => fileRef.current?.click()}>
            <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
              <path
                fill="currentColor"
                d="M16.5 6.5v10.6a4.5 4.5 0 0 1-9 0V5.4a3 3 0 0 1 6 0v10.3a1.5 1.5 0 0 1-3 0V6.5H9v9.2a3 3 0 0 0 6 0V5.4a4.5 4.5 0 0 0-9 0v11.7a6 6 0 0 0 12 0V6.5h-1.5z"
              />
            </svg>
          </button>
          <input
            ref={fileRef}
            type="file"
            multiple
            hidden
            data-testid="file-input"
            aria-label="Attach file"
            onChange={(e) => {
              attach(e.currentTarget.files);
              e.currentTarget.value = "";
            }}
          />
          <textarea
            ref={inputRef}
            aria-label="Message"
            placeholder="Message"
            rows={1}
            value={text}
            onInput={(e) => {
              setText(e.currentTarget.value);
              if (e.currentTarget.value) app.composing(chatId);
              else app.paused(chatId);
            }}
            onKeyDown={(e) => {
              if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                submit();
              }
            }}
          />
          <button type="submit" disabled={!text.trim()}>
            Send
          </button>
        </form>
      )}
      {members && <MembersDialog app={app} chatId={chatId} onClose={() => setMembers(false)} />}
    </div>
  );
}

function Message({ app, m, group, state }: { app: ChatApp; m: StoredMessage; group: boolean; state: string }) {
  const own = m.from === app.me;
  return (
    <div
      data-testid="message"
      data-message-id={m.messageId}
      data-client-msg-id={own ? m.clientMsgId : undefined}
      data-from={m.from}
      data-state={state}
      class={`msg ${own ? "own" : "other"} ${state}`}
    >
      {group && !own && <div class="from">{m.from}</div>}
      {m.attachments.map((a) => (
        <Attachment key={a.localId ?? a.attachmentId} app={app} m={m} a={a} />
      ))}
      {m.body && <div class="body">{m.body}</div>}
      <div class="meta">
        <time dateTime={new Date(m.ts).toISOString()}>{timeLabel(m.ts)}</time>
        {own && (
          <span class={`ticks ${state}`} aria-label={TICK_LABEL[state]} title={TICK_LABEL[state]}>
            {state === "sending" ? <Clock /> : TICKS[state]}
          </span>
        )}
      </div>
      {state === "failed" && (
        <div class="failed">
          Not sent{m.error ? `: ${m.error}` : ""}.{" "}
          <button type="button" onClick={() => app.retry(m.chatId, m.key)}>
            Retry
          </button>
        </div>
      )}
    </div>
  );
}

function Attachment({ app, m, a }: { app: ChatApp; m: StoredMessage; a: StoredAttachment }) {
  const [url, setUrl] = useState<string>();
  const [viewing, setViewing] = useState(false);
  const progress = a.localId !== undefined ? app.uploads.get(a.localId) : undefined;
  const isImage = parseContentType(a.contentType).type.startsWith("image/");

  useEffect(() => {
    let live = true;
    if (a.local && a.localId) void app.blobUrl(a.localId).then((u) => live && setUrl(u));
    return () => {
      live = false;
    };
  }, [a.local, a.localId]);

  const label = `${a.name} (${formatSize(a.size)})`;
  return (
    <div class="attachment">
      {progress !== undefined && (
        <progress
          role="progressbar"
          aria-label={`Uploading ${a.name}`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(progress * 100)}
          max={100}
          value={Math.round(progress * 100)}
        />
      )}
      {isImage && url ? (
        <button type="button" class="thumb" aria-label={`Open ${a.name}`} onClick={() => setViewing(true)}>
          <img src={url} alt={a.name} />
        </button>
      ) : url ? (
        <a class="chip" href={url} download={a.name}>
          Download {label}
        </a>
      ) : a.error ? (
        <span class="chip error">
          {label}: {a.error}
        </span>
      ) : a.url ? (
        <button type="button" class="chip" onClick={() => void app.fetchAttachment(m.chatId, m.key, a.localId!)}>
          Fetch {label}
        </button>
      ) : (
        <span class="chip">{label}</span>
      )}
      {viewing && url && <ImageDialog name={a.name} url={url} onClose={() => setViewing(false)} />}
    </div>
  );
}

/** The "sending" mark: a clock face (an icon, since not every system has an emoji font). */
function Clock() {
  return (
    <svg viewBox="0 0 16 16" width="11" height="11" aria-hidden="true">
      <circle cx="8" cy="8" r="6.5" fill="none" stroke="currentColor" stroke-width="1.5" />
      <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}
