import { Alert, Box, Button, Paper, Stack, Table, TableBody, TableCell, TableRow, Typography } from "@mui/material";
import { useState } from "react";
import { api, message, ok, type FeatureVersion } from "../../api/client";
import { useAuth } from "../../auth/AuthContext";
import { EmptyState } from "../../components/states";

const show = (v: unknown) =>
  Array.isArray(v) ? v.join(", ") : typeof v === "number" ? Number(v.toPrecision(8)).toString() : JSON.stringify(v);

export function TransformerPanel({ version, onChanged }: { version: FeatureVersion; onChanged: () => void }) {
  const { canEdit } = useAuth();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const transformer = version.transformer;
  if (!transformer) return <EmptyState title="No transformer: values are served as stored" />;
  const fit = async () => {
    setBusy(true);
    setError(null);
    try {
      await ok(api.POST("/api/v1/features/{name}/versions/fit", { params: { path: { name: version.feature_id } }, body: {} }));
      onChanged();
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  const state = Object.entries(version.transformer_state ?? {});
  const params = Object.entries(transformer.params ?? {});
  return (
    <Stack spacing={2}>
      {error && <Alert severity="error">{error}</Alert>}
      <Paper variant="outlined" sx={{ p: 2 }}>
        <Stack direction="row" sx={{ justifyContent: "space-between", alignItems: "center" }}>
          <Box>
            <Typography variant="h6" component="h3">
              {transformer.kind}
            </Typography>
            <Typography color="text.secondary">
              {params.length ? params.map(([k, v]) => `${k}=${show(v)}`).join(", ") : "default parameters"} · version{" "}
              {version.version}
            </Typography>
          </Box>
          {canEdit && (
            <Button variant="outlined" onClick={() => void fit()} disabled={busy}>
              Fit on stored values
            </Button>
          )}
        </Stack>
      </Paper>
      {state.length ? (
        <Paper variant="outlined">
          <Table size="small" aria-label="Fitted state">
            <TableBody>
              {state.map(([k, v]) => (
                <TableRow key={k}>
                  <TableCell component="th" scope="row" sx={{ width: 200, color: "text.secondary" }}>
                    {k}
                  </TableCell>
                  <TableCell sx={{ fontFamily: "monospace", wordBreak: "break-all" }}>{show(v)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Paper>
      ) : (
        <Alert severity="warning">
          Not fitted: online lookups answer <code>not_fitted</code> until the transformer is fitted.
        </Alert>
      )}
    </Stack>
  );
}
