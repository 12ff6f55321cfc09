import { useState } from "preact/hooks";
import * as api from "../api";
import type { Session } from "../app";
import { ProtocolError, type ClientInfo } from "../protocol";
import { browserName } from "../state";
import { ago } from "./format";
import { useAction } from "./hooks";

interface Props {
  notice?: string;
  onLogin(s: Session): void;
}

function explain(err: unknown): string {
  if (!(err instanceof ProtocolError)) return String(err);
  switch (err.code) {
    case "unauthorized":
      return "Wrong user name or password.";
    case "user_exists":
      return "That user name is taken. Choose another, or log in.";
    case "rate_limited":
      return `Too many attempts. Try again in ${Math.ceil((err.retryAfterMs ?? 1000) / 1000)} s.`;
    case "bad_request":
      return `${err.message}. User names are 3–32 characters: a–z, 0–9, _ . -; passwords at least 8 characters.`;
    default:
      return err.message || err.code;
  }
}

export function Login({ notice, onLogin }: Props) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [device, setDevice] = useState(() => browserName(navigator.userAgent));
  const [devices, setDevices] = useState<ClientInfo[]>();
  const { busy, error, run } = useAction((err) => {
    if (err instanceof ProtocolError && err.code === "too_many_clients") {
      setDevices((err.body as { clients?: ClientInfo[] } | undefined)?.clients ?? []);
      return "You are logged in on too many devices. Revoke one to log in here.";
    }
    return explain(err);
  });

  async function doLogin() {
    const u = user.trim().toLowerCase();
    const r = await api.login(u, password, device.trim());
    onLogin({ user: u, token: r.token, clientId: r.clientId, device: device.trim() });
  }

  // Revoking needs a token of this user: logging in with that device's own
  // label gives one (the same client, a new token), which then deletes it.
  async function revoke(c: ClientInfo) {
    await run(async () => {
      const u = user.trim().toLowerCase();
      const r = await api.login(u, password, c.device);
      await api.deleteClient(r.token, r.clientId);
      setDevices(undefined);
      await doLogin();
    });
  }

  return (
    <main class="login">
      <h1>Ferry</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run(doLogin);
        }}
      >
        {notice && (
          <p role="alert" class="notice">
            {notice}
          </p>
        )}
        <label>
          User name
          <input
            name="user"
            autocomplete="username"
            value={user}
            onInput={(e) => setUser(e.currentTarget.value)}
            required
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            required
          />
        </label>
        <label>
          Device name
          <input name="device" value={device} onInput={(e) => setDevice(e.currentTarget.value)} maxLength={64} required />
        </label>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        {devices && (
          <ul aria-label="Your devices" class="devices">
            {devices.map((c) => (
              <li key={c.clientId}>
                <span>
                  {c.device} <small>· active {ago(c.lastActive)}</small>
                </span>
                <button type="button" disabled={busy} onClick={() => void revoke(c)}>
                  Revoke {c.device}
                </button>
              </li>
            ))}
          </ul>
        )}
        <div class="row">
          <button type="submit" disabled={busy}>
            Log in
          </button>
          <button
            type="button"
            class="secondary"
            disabled={busy}
            onClick={(e) => {
              const form = (e.currentTarget as HTMLButtonElement).form!;
              if (!form.reportValidity()) return;
              void run(async () => {
                await api.register(user.trim().toLowerCase(), password);
                await doLogin();
              });
            }}
          >
            Register
          </button>
        </div>
      </form>
    </main>
  );
}
