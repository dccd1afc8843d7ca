import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { setTokenSource } from "./api/client";
import { startEarly } from "./api/early";
import { startPageCalls } from "./api/pageCalls";
import App, { preload } from "./App";
import { AuthProvider } from "./auth/AuthContext";
import { Session, whoAmI } from "./auth/session";
import { AppTheme } from "./theme";

// Everything the first page needs starts now and in parallel: the session check, the page's
// chunk and the page's first API calls (with the stored token, if any).
const session = new Session();
setTokenSource(session);
startEarly("me", whoAmI);
startPageCalls(window.location);
preload(window.location.pathname);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <AppTheme>
      <BrowserRouter>
        <AuthProvider session={session}>
          <App />
        </AuthProvider>
      </BrowserRouter>
    </AppTheme>
  </StrictMode>,
);
