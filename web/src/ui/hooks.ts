import { useEffect, useReducer, useState } from "preact/hooks";
import type { ChatApp } from "../app";

/**
 * Re-renders the component whenever the app's state changes. Effects run
 * after the first paint, so a change made between the render and the
 * subscription (the connection coming online, say) would be missed: one
 * render right after subscribing catches it.
 */
export function useApp(app: ChatApp): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const unsubscribe = app.subscribe(() => bump(undefined));
    bump(undefined);
    return unsubscribe;
  }, [app]);
}

/** Re-renders every `ms` (for "last seen" and typing expiry labels). */
export function useTick(ms: number): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const t = setInterval(() => bump(undefined), ms);
    return () => clearInterval(t);
  }, [ms]);
}

/**
 * A form's action: `run(what)` marks it busy, clears the last error, and
 * shows what a failure says (`explain` turns it into words, and may do more).
 */
export function useAction(explain: (err: unknown) => string) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  async function run(what: () => Promise<void>) {
    setBusy(true);
    setError(undefined);
    try {
      await what();
    } catch (err) {
      setError(explain(err));
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, setError, run };
}
