import { useEffect, useState } from "preact/hooks";
import type { ChatApp } from "../app";
import { chatTitle, describeEvent, unreadCount } from "../state";
import { Conversation } from "./Conversation";
import { Devices } from "./Devices";
import { NewChatDialog } from "./dialogs";
import { listTime } from "./format";
import { useApp } from "./hooks";

export function Main({ app }: { app: ChatApp }) {
  useApp(app);
  const [page, setPage] = useState<"chats" | "devices">("chats");
  const [newChat, setNewChat] = useState(false);
  const open = app.openChat;

  const chats = [...app.chats.values()].sort((a, b) => b.lastTs - a.lastTs);
  const totalUnread = chats.reduce((n, c) => n + unreadCount(app.items.get(c.chatId) ?? [], app.me, c.readUpTo), 0);
  useEffect(() => {
    document.title = totalUnread ? `(${totalUnread}) Ferry` : "Ferry";
  }, [totalUnread]);

  return (
    <div class={`main ${open ? "has-open" : ""}`}>
      <div data-testid="connection" data-state={app.conn} class="connection">
        {app.replaced ? (
          <div role="status" class="banner">
            Ferry is open in another window.{" "}
            <button type="button" onClick={() => app.useHere()}>
              Use here
            </button>
          </div>
        ) : (
          app.conn !== "online" && (
            <div role="status" class="banner">
              Offline — reconnecting…{" "}
              {app.conn === "offline" && (
                <button type="button" class="link" onClick={() => app.reconnectNow()}>
                  Retry now
                </button>
              )}
            </div>
          )
        )}
      </div>
      {app.notice && (
        <div role="alert" class="banner error">
          {app.notice}{" "}
          <button type="button" class="link" onClick={() => app.dismissNotice()}>
            Dismiss
          </button>
        </div>
      )}
      {page === "devices" ? (
        <Devices app={app} onBack={() => setPage("chats")} />
      ) : (
        <div class="panes">
          <aside class="sidebar">
            <header class="bar">
              <strong data-testid="me" class="me">
                {app.me}
              </strong>
              <span class="spacer" />
              <button type="button" onClick={() => setNewChat(true)}>
                New chat
              </button>
              <button type="button" class="secondary" onClick={() => setPage("devices")}>
                Devices
              </button>
              <button type="button" class="secondary" onClick={() => void app.logout()}>
                Log out
              </button>
            </header>
            {chats.length === 0 ? (
              <p class="empty">No chats yet. Start one with “New chat”.</p>
            ) : (
              <ul role="list" aria-label="Chats" class="chat-list">
                {chats.map((c) => {
                  const items = app.items.get(c.chatId) ?? [];
                  const last = items[items.length - 1];
                  const unread = unreadCount(items, app.me, c.readUpTo);
                  const title = chatTitle(c, app.me);
                  const preview = !last
                    ? ""
                    : last.event
                      ? describeEvent(last.event, app.me)
                      : `${last.from === app.me ? "You: " : c.members.length > 2 ? last.from + ": " : ""}${
                          last.body || (last.attachments.length ? "Attachment: " + last.attachments[0].name : "")
                        }`;
                  return (
                    <li key={c.chatId} data-testid="chat-item" data-chat-id={c.chatId} class={c.chatId === open ? "active" : ""}>
                      <button type="button" onClick={() => app.open(c.chatId)} aria-current={c.chatId === open ? "true" : undefined}>
                        <span class="title">{title}</span>
                        <span class="time">{last ? listTime(last.ts) : ""}</span>
                        <span class="preview">{c.left ? "You are no longer a member" : preview}</span>
                        {unread > 0 && (
                          <span data-testid="unread" class="unread" aria-label={`${unread} unread`}>
                            {unread}
                          </span>
                        )}
                      </button>
                    </li>
                  );
                })}
              </ul>
            )}
          </aside>
          <section class="conversation-pane">
            {open && app.chats.get(open) ? (
              <Conversation key={open} app={app} chatId={open} />
            ) : (
              <p class="empty center">Choose a chat, or start a new one.</p>
            )}
          </section>
        </div>
      )}
      {newChat && (
        <NewChatDialog
          app={app}
          onClose={(chatId) => {
            setNewChat(false);
            if (chatId) app.open(chatId);
          }}
        />
      )}
    </div>
  );
}
