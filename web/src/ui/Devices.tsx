import { useEffect, useState } from "preact/hooks";
import type { ChatApp } from "../app";
import type { ClientInfo } from "../protocol";
import { ago } from "./format";

export function Devices({ app, onBack }: { app: ChatApp; onBack(): void }) {
  const [list, setList] = useState<ClientInfo[]>();
  const [error, setError] = useState<string>();
  const reload = () =>
    app.listDevices().then(
      (l) => {
        setList(l);
        setError(undefined);
      },
      (e) => setError((e as Error).message),
    );
  useEffect(() => void reload(), []);
  return (
    <main class="devices-page">
      <header class="bar">
        <button type="button" class="secondary" onClick={onBack}>
          Back to chats
        </button>
        <h2>Devices</h2>
      </header>
      <p class="hint">Every device logged in as {app.me}. Each keeps its own copy of your messages; revoking one logs it out.</p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <Privacy app={app} />
      <h3 class="section">Logged-in devices</h3>
      {list && (
        <ul role="list" aria-label="Devices" class="devices">
          {list.map((c) => {
            const self = c.clientId === app.session.clientId;
            return (
              <li key={c.clientId} data-testid="device" data-client-id={c.clientId}>
                <span>
                  <strong>{c.device}</strong> <small>last active {ago(c.lastActive)}</small>
                  {self && <em> · This device</em>}
                </span>
                {!self && (
                  <button
                    type="button"
                    class="danger"
                    onClick={async () => {
                      try {
                        await app.revokeDevice(c.clientId);
                      } catch (e) {
                        setError((e as Error).message);
                      }
                      await reload();
                    }}
                  >
                    Revoke {c.device}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
    </main>
  );
}

/**
 * The two privacy settings. The protocol has no request that only reads
 * them: this device shows what it last set (or the defaults), and every
 * change answers with both as the server holds them.
 */
function Privacy({ app }: { app: ChatApp }) {
  const [settings, setSettings] = useState(() => app.privacy());
  const [error, setError] = useState<string>();
  async function change(c: { readReceipts?: boolean; lastSeen?: "everyone" | "nobody" }) {
    setError(undefined);
    try {
      setSettings(await app.setPrivacy(c));
    } catch (e) {
      setError((e as Error).message);
    }
  }
  return (
    <section class="privacy" aria-label="Privacy">
      <h3 class="section">Privacy</h3>
      <label class="check">
        <input type="checkbox" checked={settings.readReceipts} onChange={(e) => void change({ readReceipts: e.currentTarget.checked })} />
        Send read receipts (others see when you read their messages)
      </label>
      <label class="check">
        <input
          type="checkbox"
          checked={settings.lastSeen === "everyone"}
          onChange={(e) => void change({ lastSeen: e.currentTarget.checked ? "everyone" : "nobody" })}
        />
        Show when I was last seen
      </label>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </section>
  );
}
