import {
  Alert,
  Box,
  Button,
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
import { useState, type FormEvent } from "react";
import { api, message, ok, type Role } from "../api/client";
import { fieldErrors } from "../api/fieldErrors";
import { useAuth } from "../auth/AuthContext";
import { Async, EmptyState } from "../components/states";
import { ConfirmDelete } from "../components/ConfirmDelete";
import { useApi } from "../hooks/useApi";

const ROLES: Role[] = ["viewer", "editor", "admin"];

function RoleSelect({ value, onChange, label }: { value: Role; onChange: (r: Role) => void; label: string }) {
  return (
    <TextField select size="small" label={label} value={value} onChange={(e) => onChange(e.target.value as Role)} sx={{ minWidth: 120 }}>
      {ROLES.map((r) => (
        <MenuItem key={r} value={r}>
          {r}
        </MenuItem>
      ))}
    </TextField>
  );
}

function UsersTable() {
  const state = useApi(() => ok(api.GET("/api/v1/users")), []);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setErrors({});
    try {
      await ok(api.POST("/api/v1/users", { body: { name, password, role } }));
      setName("");
      setPassword("");
      state.reload();
    } catch (err) {
      setErrors(fieldErrors(err, ["name", "password", "role"]));
    }
  };
  const update = async (user: string, body: { role?: Role; disabled?: boolean }) => {
    try {
      await ok(api.PATCH("/api/v1/users/{name}", { params: { path: { name: user } }, body }));
      state.reload();
    } catch (err) {
      setErrors({ "": message(err) });
    }
  };
  return (
    <Paper variant="outlined">
      {errors[""] && <Alert severity="error">{errors[""]}</Alert>}
      <Async state={state} label="Loading users">
        {(users) => (
          <Table size="small" aria-label="Users">
            <TableHead>
              <TableRow>
                <TableCell>Name</TableCell>
                <TableCell>Role</TableCell>
                <TableCell>Status</TableCell>
                <TableCell>Actions</TableCell>
              </TableRow>
            </TableHead>
            <TableBody>
              {users.map((u) => (
                <TableRow key={u.name}>
                  <TableCell>{u.name}</TableCell>
                  <TableCell>
                    <RoleSelect label={`Role of ${u.name}`} value={u.role} onChange={(r) => void update(u.name, { role: r })} />
                  </TableCell>
                  <TableCell>
                    <Button size="small" onClick={() => void update(u.name, { disabled: !u.disabled })}>
                      {u.disabled ? "Enable" : "Disable"}
                    </Button>
                  </TableCell>
                  <TableCell>
                    <ConfirmDelete
                      size="small"
                      what={`user ${u.name}`}
                      consequences="The user can no longer sign in (the last enabled admin cannot be deleted). This cannot be undone."
                      onDelete={async () => {
                        await ok(api.DELETE("/api/v1/users/{name}", { params: { path: { name: u.name } } }));
                        state.reload();
                      }}
                    />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </Async>
      <Box component="form" onSubmit={create} noValidate sx={{ p: 2 }}>
        <Stack direction={{ xs: "column", md: "row" }} spacing={1}>
          <TextField size="small" label="User name" value={name} onChange={(e) => setName(e.target.value)} error={Boolean(errors.name)} helperText={errors.name} required />
          <TextField size="small" label="Password" type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} error={Boolean(errors.password)} helperText={errors.password} required />
          <RoleSelect label="Role" value={role} onChange={setRole} />
          <Button type="submit" variant="contained">
            Add user
          </Button>
        </Stack>
      </Box>
    </Paper>
  );
}

function KeysTable() {
  const state = useApi(() => ok(api.GET("/api/v1/api-keys")), []);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [created, setCreated] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const key = await ok(api.POST("/api/v1/api-keys", { body: { name, role } }));
      setCreated(key.key);
      setName("");
      state.reload();
    } catch (err) {
      setError(message(err));
    }
  };
  const revoke = async (id: string) => {
    try {
      await ok(api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: id } } }));
      state.reload();
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <Paper variant="outlined">
      {error && <Alert severity="error">{error}</Alert>}
      {created && (
        <Alert severity="success" onClose={() => setCreated(null)}>
          New key (shown once): <code>{created}</code>
        </Alert>
      )}
      <Async state={state} label="Loading API keys">
        {(keys) =>
          keys.length ? (
            <Table size="small" aria-label="API keys">
              <TableHead>
                <TableRow>
                  <TableCell>Name</TableCell>
                  <TableCell>Role</TableCell>
                  <TableCell>Owner</TableCell>
                  <TableCell>Actions</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {keys.map((k) => (
                  <TableRow key={k.id}>
                    <TableCell>{k.name}</TableCell>
                    <TableCell>{k.role}</TableCell>
                    <TableCell>{k.owner}</TableCell>
                    <TableCell>
                      <Button size="small" color="error" onClick={() => void revoke(k.id)}>
                        Revoke
                      </Button>
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          ) : (
            <Box sx={{ p: 2 }}>
              <Typography color="text.secondary">No API keys.</Typography>
            </Box>
          )
        }
      </Async>
      <Box component="form" onSubmit={create} sx={{ p: 2 }}>
        <Stack direction={{ xs: "column", md: "row" }} spacing={1}>
          <TextField size="small" label="Key name" value={name} onChange={(e) => setName(e.target.value)} required />
          <RoleSelect label="Key role" value={role} onChange={setRole} />
          <Button type="submit" variant="contained">
            Create API key
          </Button>
        </Stack>
      </Box>
    </Paper>
  );
}

export default function Users() {
  const { isAdmin, devMode } = useAuth();
  if (!isAdmin) return <EmptyState title="Only administrators manage users and API keys" />;
  return (
    <Stack spacing={3}>
      <Typography variant="h4" component="h1">
        Users & API keys
      </Typography>
      {devMode && <Alert severity="info">Authentication is disabled (dev mode): users and keys take effect once it is on.</Alert>}
      <Typography variant="h5" component="h2">
        Users
      </Typography>
      <UsersTable />
      <Typography variant="h5" component="h2">
        API keys
      </Typography>
      <KeysTable />
    </Stack>
  );
}
