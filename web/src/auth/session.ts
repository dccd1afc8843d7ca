// The signed-in session: tokens from POST /auth/token, renewed with the one-use refresh token
// before the access token expires (and after a 401), kept in sessionStorage across reloads.
import { api, ApiError, ok, type TokenSource } from "../api/client";

const KEY = "fstore.session";

interface Stored {
  access: string;
  refresh: string;
  expiresAt: number;
}

type TokenOut = { access_token: string; refresh_token: string; expires_in: number };

export class Session implements TokenSource {
  private stored: Stored | null;
  private renewing: Promise<boolean> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private onExpired: () => void = () => {};

  constructor() {
    const text = sessionStorage.getItem(KEY);
    this.stored = text ? (JSON.parse(text) as Stored) : null;
    this.schedule();
  }

  /** Calls ``callback`` when the session ends because it could not be renewed. */
  whenExpired(callback: () => void): void {
    this.onExpired = callback;
  }

  get signedIn(): boolean {
    return this.stored !== null;
  }

  accessToken(): string | null {
    return this.stored?.access ?? null;
  }

  async signIn(username: string, password: string): Promise<void> {
    const body = new URLSearchParams({ username, password, grant_type: "password" });
    const response = await fetch("/api/v1/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body,
    });
    const payload = await response.json();
    if (!response.ok) throw new ApiError(payload);
    this.keep(payload as TokenOut);
  }

  async signOut(): Promise<void> {
    const refresh = this.stored?.refresh;
    this.forget();
    if (refresh) {
      await api.POST("/api/v1/auth/logout", { body: { refresh_token: refresh } }).catch(() => undefined);
    }
  }

  renew(): Promise<boolean> {
    this.renewing ??= this.refresh().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  private async refresh(): Promise<boolean> {
    const refresh = this.stored?.refresh;
    if (!refresh) return false;
    try {
      // without the Authorization header: the refresh token is the credential
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: refresh }),
      });
      if (!response.ok) throw new Error(String(response.status));
      this.keep((await response.json()) as TokenOut);
      return true;
    } catch {
      this.forget();
      this.onExpired();
      return false;
    }
  }

  private keep(tokens: TokenOut): void {
    this.stored = {
      access: tokens.access_token,
      refresh: tokens.refresh_token,
      expiresAt: Date.now() + tokens.expires_in * 1000,
    };
    sessionStorage.setItem(KEY, JSON.stringify(this.stored));
    this.schedule();
  }

  private forget(): void {
    this.stored = null;
    sessionStorage.removeItem(KEY);
    clearTimeout(this.timer);
  }

  /** Renews at 80% of the access token's life, so requests rarely meet a 401. */
  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.stored) return;
    const left = this.stored.expiresAt - Date.now();
    this.timer = setTimeout(() => void this.renew(), Math.max(1000, left * 0.8));
  }
}

export async function whoAmI() {
  return ok(api.GET("/api/v1/auth/me"));
}
