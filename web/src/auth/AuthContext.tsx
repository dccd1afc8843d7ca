import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, setTokenSource, type Schemas } from "../api/client";
import { dropEarly, early } from "../api/early";
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

/** ``session``: the one main.tsx made to start the first calls with; else a new one. */
export function AuthProvider({ children, session: given }: { children: ReactNode; session?: Session }) {
  const session = useMemo(() => given ?? new Session(), [given]);
  const [principal, setPrincipal] = useState<Principal | null>(null);
  const [status, setStatus] = useState<AuthState["status"]>("loading");
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(
    () =>
      early("me", whoAmI).then(
        (me) => {
          setPrincipal(me);
          setStatus("signedIn");
        },
        (e: unknown) => {
          if (e instanceof ApiError && e.status === 401) {
            dropEarly();
            setPrincipal(null);
            setStatus("signedOut");
          } else {
            setError(e instanceof Error ? e.message : String(e));
            setStatus("error");
          }
        },
      ),
    [],
  );

  useEffect(() => {
    setTokenSource(session);
    session.whenExpired(() => {
      dropEarly();
      setPrincipal(null);
      setStatus("signedOut");
    });
    void load();
    return () => setTokenSource(null);
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
        dropEarly();
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
