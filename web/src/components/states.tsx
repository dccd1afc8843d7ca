import { Alert, Box, Button, CircularProgress, Paper, Typography } from "@mui/material";
import type { ReactNode } from "react";
import { message } from "../api/client";

export function Loading({ label = "Loading" }: { label?: string }) {
  return (
    <Box role="status" aria-live="polite" sx={{ display: "flex", alignItems: "center", gap: 2, p: 3 }}>
      <CircularProgress size={24} aria-label={label} />
      <Typography color="text.secondary">{label}…</Typography>
    </Box>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <Alert
      severity="error"
      action={
        onRetry ? (
          <Button color="inherit" size="small" onClick={onRetry}>
            Retry
          </Button>
        ) : undefined
      }
    >
      {message(error)}
    </Alert>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <Paper variant="outlined" sx={{ p: 4, textAlign: "center" }}>
      <Typography variant="h6" component="p" gutterBottom>
        {title}
      </Typography>
      <Box sx={{ color: "text.secondary" }}>{children}</Box>
    </Paper>
  );
}

/** What an empty store shows: how to load the demo. */
export function LoadDemoHint() {
  return (
    <EmptyState title="This store has no features yet">
      <Typography>
        Load the demo data with <code>fstore demo</code> (or start the server with{" "}
        <code>fstore serve --demo --dev --no-auth</code>), or create a feature.
      </Typography>
    </EmptyState>
  );
}

/** Loading, error, or the content of a loaded value. */
export function Async<T>({
  state,
  children,
  label,
}: {
  state: { data: T | undefined; error: unknown; loading: boolean; reload: () => void };
  children: (data: T) => ReactNode;
  label?: string;
}) {
  if (state.error) return <ErrorState error={state.error} onRetry={state.reload} />;
  if (state.data === undefined) return <Loading label={label} />;
  return <>{children(state.data)}</>;
}
