import { CssBaseline, ThemeProvider, createTheme, useMediaQuery } from "@mui/material";
import { createContext, useContext, useMemo, useState, type ReactNode } from "react";

type Mode = "light" | "dark";
const KEY = "fstore.theme";

const NO_MOTION = {
  shortest: 0,
  shorter: 0,
  short: 0,
  standard: 0,
  complex: 0,
  enteringScreen: 0,
  leavingScreen: 0,
};

const ModeContext = createContext<{ mode: Mode; toggle: () => void }>({ mode: "light", toggle: () => {} });

export function AppTheme({ children }: { children: ReactNode }) {
  const prefersDark = useMediaQuery("(prefers-color-scheme: dark)");
  const reducedMotion = useMediaQuery("(prefers-reduced-motion: reduce)");
  const [chosen, setChosen] = useState<Mode | null>(() => localStorage.getItem(KEY) as Mode | null);
  const mode: Mode = chosen ?? (prefersDark ? "dark" : "light");
  const theme = useMemo(
    () =>
      createTheme({
        palette: { mode, primary: { main: mode === "light" ? "#1565c0" : "#90caf9" } },
        shape: { borderRadius: 8 },
        // the system's "reduce motion" setting: dialogs, menus and drawers appear at once
        ...(reducedMotion && { transitions: { create: () => "none", duration: NO_MOTION } }),
        components: {
          MuiButton: { defaultProps: { disableElevation: true } },
          // plain links (router links in text and tables) take the theme's colour in both modes
          MuiCssBaseline: {
            styleOverrides: { a: { color: mode === "light" ? "#1565c0" : "#90caf9" } },
          },
        },
      }),
    [mode, reducedMotion],
  );
  const toggle = () => {
    const next: Mode = mode === "light" ? "dark" : "light";
    localStorage.setItem(KEY, next);
    setChosen(next);
  };
  return (
    <ModeContext.Provider value={{ mode, toggle }}>
      <ThemeProvider theme={theme}>
        <CssBaseline />
        {children}
      </ThemeProvider>
    </ModeContext.Provider>
  );
}

export const useColorMode = () => useContext(ModeContext);
