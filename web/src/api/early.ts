// API calls started when the app starts, alongside /auth/me and the page's chunk, instead of
// after both: the page takes its call when it mounts. A call not taken is dropped on sign-out
// (it was made without a valid session) and is used at most once.
const started = new Map<string, Promise<unknown>>();

/** Starts ``load`` now under ``key`` (its failure surfaces only where it is taken). */
export function startEarly(key: string, load: () => Promise<unknown>): void {
  const pending = load();
  pending.catch(() => undefined); // not an unhandled rejection if nobody takes it
  started.set(key, pending);
}

/** The call started under ``key`` (once), else a fresh ``load()``. */
export function early<T>(key: string, load: () => Promise<T>): Promise<T> {
  const pending = started.get(key);
  started.delete(key);
  return (pending as Promise<T> | undefined) ?? load();
}

export function dropEarly(): void {
  started.clear();
}
