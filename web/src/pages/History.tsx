import { Box, MenuItem, Paper, Stack, Tab, Table, TableBody, TableCell, TableHead, TableRow, Tabs, TextField, Typography } from "@mui/material";
import { useState } from "react";
import { api, ok } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { changeTarget } from "../components/ChangeList";
import { Async, EmptyState } from "../components/states";
import { useApi } from "../hooks/useApi";
import { useDebounced } from "../hooks/useDebounced";

function Changes() {
  const [type, setType] = useState("");
  const [id, setId] = useState("");
  const objectId = useDebounced(id);
  const state = useApi(
    () =>
      ok(
        api.GET("/api/v1/history", {
          params: { query: { object_type: type || undefined, object_id: objectId || undefined, limit: 200 } },
        }),
      ),
    [type, objectId],
  );
  return (
    <Stack spacing={2}>
      <Stack direction="row" spacing={2}>
        <TextField select size="small" label="Object type" value={type} onChange={(e) => setType(e.target.value)} sx={{ minWidth: 160 }}>
          <MenuItem value="">Any</MenuItem>
          <MenuItem value="feature">feature</MenuItem>
          <MenuItem value="group">group</MenuItem>
          <MenuItem value="entity">entity</MenuItem>
        </TextField>
        <TextField size="small" label="Object name" value={id} onChange={(e) => setId(e.target.value)} />
      </Stack>
      <Async state={state} label="Loading changes">
        {(changes) =>
          changes.length ? (
            <Paper variant="outlined" sx={{ overflowX: "auto" }}>
              <Table size="small" aria-label="Changes">
                <TableHead>
                  <TableRow>
                    <TableCell>When</TableCell>
                    <TableCell>Action</TableCell>
                    <TableCell>Object</TableCell>
                    <TableCell>Version</TableCell>
                    <TableCell>By</TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {changes.map((c) => (
                    <TableRow key={c.id}>
                      <TableCell>{new Date(c.at!).toLocaleString()}</TableCell>
                      <TableCell>{c.action}</TableCell>
                      <TableCell>
                        {c.object_type} {changeTarget(c)}
                      </TableCell>
                      <TableCell>{c.version ?? ""}</TableCell>
                      <TableCell>{c.actor}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </Paper>
          ) : (
            <EmptyState title="No changes match" />
          )
        }
      </Async>
    </Stack>
  );
}

function Audit() {
  const [actor, setActor] = useState("");
  const who = useDebounced(actor);
  const state = useApi(
    () => ok(api.GET("/api/v1/audit", { params: { query: { actor: who || undefined, limit: 200 } } })),
    [who],
  );
  return (
    <Stack spacing={2}>
      <TextField size="small" label="Actor" value={actor} onChange={(e) => setActor(e.target.value)} sx={{ maxWidth: 240 }} />
      <Async state={state} label="Loading the audit log">
        {(records) =>
          records.length ? (
            <Paper variant="outlined" sx={{ overflowX: "auto" }}>
              <Table size="small" aria-label="Audit log">
                <TableHead>
                  <TableRow>
                    <TableCell>When</TableCell>
                    <TableCell>Actor</TableCell>
                    <TableCell>Action</TableCell>
                    <TableCell>Resource</TableCell>
                    <TableCell>Outcome</TableCell>
                  </TableRow>
                </TableHead>
                <TableBody>
                  {records.map((r) => (
                    <TableRow key={r.id}>
                      <TableCell>{new Date(r.at).toLocaleString()}</TableCell>
                      <TableCell>{r.actor}</TableCell>
                      <TableCell>{r.action}</TableCell>
                      <TableCell>{r.resource}</TableCell>
                      <TableCell>{r.outcome}</TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            </Paper>
          ) : (
            <EmptyState title="No audit records match" />
          )
        }
      </Async>
    </Stack>
  );
}

export default function History() {
  const { isAdmin } = useAuth();
  const [tab, setTab] = useState<"changes" | "audit">("changes");
  return (
    <Box>
      <Typography variant="h4" component="h1" gutterBottom>
        Change history
      </Typography>
      {isAdmin && (
        <Tabs value={tab} onChange={(_, t) => setTab(t)} sx={{ mb: 2 }} aria-label="History or audit">
          <Tab value="changes" label="Registry changes" />
          <Tab value="audit" label="Audit log (API writes)" />
        </Tabs>
      )}
      {tab === "changes" || !isAdmin ? <Changes /> : <Audit />}
    </Box>
  );
}
