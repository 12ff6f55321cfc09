import { useEffect, useState } from "preact/hooks";
import { ChatApp, loadSession, saveSession, type EndReason, type Session } from "../app";
import { Login } from "./Login";
import { Main } from "./Main";

const REVOKED =
  "This device was logged out: it was removed from your devices (on another device, or by a log-out). Log in again to continue.";

export function Root() {
  const [app, setApp] = useState<ChatApp>();
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [notice, setNotice] = useState<string>();
  const [error, setError] = useState<string>();

  useEffect(() => {
    if (!session) return;
    let live = true;
    let started: ChatApp | undefined;
    const onEnd = (reason: EndReason) => {
      setApp(undefined);
      setSession(undefined);
      setNotice(reason === "revoked" ? REVOKED : undefined);
    };
    ChatApp.start(session, onEnd).then(
      (a) => {
        started = a;
        if (live) setApp(a);
      },
      (err) => setError(`This browser's storage cannot be opened: ${(err as Error).message}`),
    );
    return () => {
      live = false;
      void started;
    };
  }, [session]);

  if (error) return <p role="alert" class="fatal">{error}</p>;
  if (!session)
    return (
      <Login
        notice={notice}
        onLogin={(s) => {
          saveSession(s);
          setNotice(undefined);
          setSession(s);
        }}
      />
    );
  if (!app) return <p class="loading">Loading…</p>;
  return <Main app={app} />;
}
