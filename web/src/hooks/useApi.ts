import { useCallback, useEffect, useRef, useState, type DependencyList } from "react";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs ``load`` when ``deps`` change (and on ``reload``); the latest call wins. */
export function useApi<T>(load: () => Promise<T>, deps: DependencyList): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  // The caller names what the call depends on (as with useEffect's list), so the list is not
  // a literal here and the rule cannot check it: each caller's list is reviewed where it is.
  // eslint-disable-next-line react-hooks/exhaustive-deps, react-hooks/use-memo
  const run = useCallback(load, deps);

  useEffect(() => {
    const call = ++latest.current;
    // eslint-disable-next-line react-hooks/set-state-in-effect -- a new call starts: show it loading
    setLoading(true);
    run().then(
      (value) => {
        if (call !== latest.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (e: unknown) => {
        if (call !== latest.current) return;
        setError(e);
        setLoading(false);
      },
    );
  }, [run, tick]);

  return { data, error, loading, reload: () => setTick((t) => t + 1) };
}
