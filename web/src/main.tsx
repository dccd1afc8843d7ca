import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import App, { preload } from "./App";
import { AuthProvider } from "./auth/AuthContext";
import { AppTheme } from "./theme";

preload(window.location.pathname);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <AppTheme>
      <BrowserRouter>
        <AuthProvider>
          <App />
        </AuthProvider>
      </BrowserRouter>
    </AppTheme>
  </StrictMode>,
);
