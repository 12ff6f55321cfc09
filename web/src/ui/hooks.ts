import { useEffect, useReducer } from "preact/hooks";
import type { ChatApp } from "../app";

/** Re-renders the component whenever the app's state changes. */
export function useApp(app: ChatApp): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => app.subscribe(() => bump(undefined)), [app]);
}

/** Re-renders every `ms` (for "last seen" and typing expiry labels). */
export function useTick(ms: number): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const t = setInterval(() => bump(undefined), ms);
    return () => clearInterval(t);
  }, [ms]);
}
