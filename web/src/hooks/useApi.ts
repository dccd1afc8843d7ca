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
  const run = useCallback(load, deps); // the caller names what the call depends on

  useEffect(() => {
    const call = ++latest.current;
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
