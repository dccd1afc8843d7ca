import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, useTokens, type Schemas } from "../api/client";
import { Session, whoAmI } from "./session";

export type Principal = Schemas["PrincipalOut"];

interface AuthState {
  status: "loading" | "signedOut" | "signedIn" | "error";
  principal: Principal | null;
  error: string | null;
  /** Authentication is disabled on the server (dev mode): everyone is the dev admin. */
  devMode: boolean;
  canEdit: boolean;
  isAdmin: boolean;
  signIn: (username: string, password: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const session = useMemo(() => new Session(), []);
  const [principal, setPrincipal] = useState<Principal | null>(null);
  const [status, setStatus] = useState<AuthState["status"]>("loading");
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setPrincipal(await whoAmI());
      setStatus("signedIn");
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        setPrincipal(null);
        setStatus("signedOut");
      } else {
        setError(e instanceof Error ? e.message : String(e));
        setStatus("error");
      }
    }
  }, []);

  useEffect(() => {
    useTokens(session);
    session.onExpired = () => {
      setPrincipal(null);
      setStatus("signedOut");
    };
    void load();
    return () => useTokens(null);
  }, [session, load]);

  const value = useMemo<AuthState>(() => {
    const role = principal?.role;
    return {
      status,
      principal,
      error,
      devMode: principal?.kind === "dev",
      canEdit: role === "editor" || role === "admin",
      isAdmin: role === "admin",
      signIn: async (username, password) => {
        await session.signIn(username, password);
        await load();
      },
      signOut: async () => {
        await session.signOut();
        setPrincipal(null);
        setStatus("signedOut");
      },
    };
  }, [status, principal, error, session, load]);

  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}
