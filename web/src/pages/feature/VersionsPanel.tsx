import {
  Alert,
  Box,
  Button,
  Chip,
  MenuItem,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from "@mui/material";
import { useState } from "react";
import { api, message, ok, type Feature, type FeatureVersion } from "../../api/client";
import { useAuth } from "../../auth/AuthContext";
import { ErrorState } from "../../components/states";

const show = (v: unknown) => (v == null ? "–" : typeof v === "string" ? v : JSON.stringify(v));

function Diff({ name, versions }: { name: string; versions: FeatureVersion[] }) {
  const [from, setFrom] = useState(versions.at(-2)?.version ?? versions[0]?.version ?? "");
  const [to, setTo] = useState(versions.at(-1)?.version ?? "");
  const [diff, setDiff] = useState<Record<string, { from: unknown; to: unknown }> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const compare = async () => {
    setError(null);
    try {
      const found = await ok(
        api.GET("/api/v1/features/{name}/versions/diff", { params: { path: { name }, query: { from, to } } }),
      );
      setDiff((found as { changes: Record<string, { from: unknown; to: unknown }> }).changes);
    } catch (e) {
      setError(e);
    }
  };
  const pick = (label: string, value: string, set: (v: string) => void) => (
    <TextField select size="small" label={label} value={value} onChange={(e) => set(e.target.value)} sx={{ minWidth: 120 }}>
      {versions.map((v) => (
        <MenuItem key={v.version} value={v.version}>
          {v.version}
        </MenuItem>
      ))}
    </TextField>
  );
  return (
    <Paper variant="outlined" sx={{ p: 2 }}>
      <Typography variant="h6" component="h3" gutterBottom>
        Compare versions
      </Typography>
      <Stack direction="row" spacing={2} sx={{ alignItems: "center" }}>
        {pick("From", from, setFrom)}
        {pick("To", to, setTo)}
        <Button variant="outlined" onClick={() => void compare()} disabled={!from || !to}>
          Compare
        </Button>
      </Stack>
      {error ? <ErrorState error={error} /> : null}
      {diff && (
        <Box sx={{ mt: 2 }}>
          {Object.keys(diff).length === 0 ? (
            <Typography color="text.secondary">The two versions are the same.</Typography>
          ) : (
            <Table size="small" aria-label="Differences">
              <TableHead>
                <TableRow>
                  <TableCell>Field</TableCell>
                  <TableCell>{from}</TableCell>
                  <TableCell>{to}</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {Object.entries(diff).map(([field, change]) => (
                  <TableRow key={field}>
                    <TableCell component="th" scope="row">
                      {field}
                    </TableCell>
                    <TableCell sx={{ fontFamily: "monospace", wordBreak: "break-all" }}>{show(change.from)}</TableCell>
                    <TableCell sx={{ fontFamily: "monospace", wordBreak: "break-all" }}>{show(change.to)}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </Box>
      )}
    </Paper>
  );
}

export function VersionsPanel({
  feature,
  versions,
  onChanged,
}: {
  feature: Feature;
  versions: FeatureVersion[];
  onChanged: () => void;
}) {
  const { isAdmin } = useAuth();
  const [error, setError] = useState<string | null>(null);
  const rollback = async (version: string) => {
    setError(null);
    try {
      await ok(
        api.POST("/api/v1/features/{name}/versions/rollback", {
          params: { path: { name: feature.name } },
          body: { version },
        }),
      );
      onChanged();
    } catch (e) {
      setError(message(e));
    }
  };
  const newestFirst = [...versions].reverse();
  return (
    <Stack spacing={2}>
      {error && <Alert severity="error">{error}</Alert>}
      <Paper variant="outlined">
        <Table size="small" aria-label="Versions">
          <TableHead>
            <TableRow>
              <TableCell>Version</TableCell>
              <TableCell>Bump</TableCell>
              <TableCell>Reason</TableCell>
              <TableCell>Transformer</TableCell>
              <TableCell>By</TableCell>
              <TableCell>Created</TableCell>
              {isAdmin && <TableCell>Actions</TableCell>}
            </TableRow>
          </TableHead>
          <TableBody>
            {newestFirst.map((v) => {
              const current = v.version === feature.current_version;
              return (
                <TableRow key={v.version} selected={current}>
                  <TableCell>
                    {v.version} {current && <Chip size="small" color="primary" label="current" />}
                  </TableCell>
                  <TableCell>{v.bump ?? ""}</TableCell>
                  <TableCell>{v.reason}</TableCell>
                  <TableCell>
                    {v.transformer ? `${v.transformer.kind}${v.transformer_state ? " (fitted)" : ""}` : "–"}
                  </TableCell>
                  <TableCell>{v.created_by}</TableCell>
                  <TableCell>{new Date(v.created_at!).toLocaleString()}</TableCell>
                  {isAdmin && (
                    <TableCell>
                      {!current && (
                        <Button size="small" onClick={() => void rollback(v.version)} aria-label={`Roll back to ${v.version}`}>
                          Roll back
                        </Button>
                      )}
                    </TableCell>
                  )}
                </TableRow>
              );
            })}
          </TableBody>
        </Table>
      </Paper>
      {versions.length > 1 && <Diff name={feature.name} versions={versions} />}
    </Stack>
  );
}
