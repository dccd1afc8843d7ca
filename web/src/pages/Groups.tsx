import DeleteIcon from "@mui/icons-material/Close";
import {
  Alert,
  Box,
  Button,
  Card,
  CardContent,
  Chip,
  Grid,
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
import { Link } from "react-router-dom";
import { api, message, ok, type FeatureGroup } from "../api/client";
import { fieldErrors } from "../api/fieldErrors";
import { useAuth } from "../auth/AuthContext";
import { ConfirmDelete } from "../components/ConfirmDelete";
import { Async, EmptyState } from "../components/states";
import { useApi } from "../hooks/useApi";

function EditGroup({ group, onDone }: { group: FeatureGroup; onDone: (saved: boolean) => void }) {
  const [description, setDescription] = useState(group.description ?? "");
  const [owner, setOwner] = useState(group.owner ?? "");
  const [error, setError] = useState<string | null>(null);
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await ok(api.PATCH("/api/v1/groups/{name}", { params: { path: { name: group.name } }, body: { description, owner } }));
      onDone(true);
    } catch (err) {
      setError(message(err));
    }
  };
  return (
    <Box component="form" onSubmit={save} sx={{ my: 1 }}>
      {error && <Alert severity="error">{error}</Alert>}
      <Stack direction={{ xs: "column", sm: "row" }} spacing={1}>
        <TextField size="small" label={`Description of ${group.name}`} value={description} onChange={(e) => setDescription(e.target.value)} fullWidth />
        <TextField size="small" label="Owner" value={owner} onChange={(e) => setOwner(e.target.value)} />
        <Button type="submit" variant="contained">
          Save
        </Button>
        <Button onClick={() => onDone(false)}>Cancel</Button>
      </Stack>
    </Box>
  );
}

function GroupCard({ group, onChanged }: { group: FeatureGroup; onChanged: () => void }) {
  const { canEdit, isAdmin } = useAuth();
  const [editing, setEditing] = useState(false);
  const [feature, setFeature] = useState("");
  const [error, setError] = useState<string | null>(null);
  const act = async (run: () => Promise<unknown>) => {
    setError(null);
    try {
      await run();
      setFeature("");
      onChanged();
    } catch (e) {
      setError(message(e));
    }
  };
  const path = (f: string) => ({ params: { path: { name: group.name, feature: f } } });
  return (
    <Card variant="outlined" sx={{ height: "100%" }}>
      <CardContent>
        <Typography variant="h6" component="h3">
          {group.name}
        </Typography>
        {editing ? (
          <EditGroup
            group={group}
            onDone={(saved) => {
              setEditing(false);
              if (saved) onChanged();
            }}
          />
        ) : (
          <Typography color="text.secondary" gutterBottom>
            {group.description || "No description."} {group.entity ? `· entity ${group.entity}` : ""}
            {group.owner ? ` · owner ${group.owner}` : ""}
            {canEdit && (
              <Button size="small" onClick={() => setEditing(true)} sx={{ ml: 1 }} aria-label={`Edit ${group.name}`}>
                Edit
              </Button>
            )}
          </Typography>
        )}
        <Stack direction="row" spacing={1} useFlexGap sx={{ flexWrap: "wrap" }} aria-label={`Features of ${group.name}`}>
          {group.features?.map((f) => (
            <Chip
              key={f}
              label={f}
              component={Link}
              to={`/features/${encodeURIComponent(f)}`}
              clickable
              onDelete={canEdit ? () => void act(() => ok(api.DELETE("/api/v1/groups/{name}/features/{feature}", path(f)))) : undefined}
              deleteIcon={canEdit ? <DeleteIcon aria-label={`Remove ${f} from ${group.name}`} /> : undefined}
            />
          ))}
          {!group.features?.length && <Typography color="text.secondary">No features.</Typography>}
        </Stack>
        {error && (
          <Alert severity="error" sx={{ mt: 1 }}>
            {error}
          </Alert>
        )}
        {canEdit && (
          <Box
            component="form"
            sx={{ mt: 2, display: "flex", gap: 1 }}
            onSubmit={(e: FormEvent) => {
              e.preventDefault();
              void act(() => ok(api.POST("/api/v1/groups/{name}/features/{feature}", path(feature.trim()))));
            }}
          >
            <TextField size="small" label={`Add a feature to ${group.name}`} value={feature} onChange={(e) => setFeature(e.target.value)} required />
            <Button type="submit" variant="outlined">
              Add
            </Button>
            {isAdmin && (
              <ConfirmDelete
                what={`group ${group.name}`}
                consequences="Its features stay registered; this cannot be undone."
                onDelete={async () => {
                  await ok(api.DELETE("/api/v1/groups/{name}", { params: { path: { name: group.name } } }));
                  onChanged();
                }}
              />
            )}
          </Box>
        )}
      </CardContent>
    </Card>
  );
}

function NewGroup({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors({});
    try {
      await ok(api.POST("/api/v1/groups", { body: { name, description } as never }));
      setName("");
      setDescription("");
      onCreated();
    } catch (err) {
      setErrors(fieldErrors(err, ["name", "description"]));
    }
  };
  return (
    <Paper component="form" variant="outlined" sx={{ p: 2 }} onSubmit={submit} noValidate>
      <Typography variant="subtitle1" component="h3" gutterBottom>
        New group
      </Typography>
      {errors[""] && <Alert severity="error">{errors[""]}</Alert>}
      <Stack direction={{ xs: "column", sm: "row" }} spacing={1}>
        <TextField size="small" label="Group name" value={name} onChange={(e) => setName(e.target.value)} error={Boolean(errors.name)} helperText={errors.name} required />
        <TextField size="small" label="Description" value={description} onChange={(e) => setDescription(e.target.value)} />
        <Button type="submit" variant="contained">
          Create group
        </Button>
      </Stack>
    </Paper>
  );
}

function NewEntity({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [joinKey, setJoinKey] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setErrors({});
    try {
      await ok(api.POST("/api/v1/entities", { body: { name, join_key: joinKey } as never }));
      setName("");
      setJoinKey("");
      onCreated();
    } catch (err) {
      setErrors(fieldErrors(err, ["name", "join_key"]));
    }
  };
  return (
    <Box component="form" onSubmit={submit} noValidate sx={{ p: 2 }}>
      {errors[""] && <Alert severity="error">{errors[""]}</Alert>}
      <Stack direction={{ xs: "column", sm: "row" }} spacing={1}>
        <TextField size="small" label="Entity name" value={name} onChange={(e) => setName(e.target.value)} error={Boolean(errors.name)} helperText={errors.name} required />
        <TextField size="small" label="Join key (default: name_id)" value={joinKey} onChange={(e) => setJoinKey(e.target.value)} error={Boolean(errors.join_key)} helperText={errors.join_key} />
        <Button type="submit" variant="outlined">
          Create entity
        </Button>
      </Stack>
    </Box>
  );
}

export default function Groups() {
  const { canEdit, isAdmin } = useAuth();
  const groups = useApi(() => ok(api.GET("/api/v1/groups")), []);
  const entities = useApi(() => ok(api.GET("/api/v1/entities")), []);
  return (
    <Stack spacing={3}>
      <Typography variant="h4" component="h1">
        Feature groups
      </Typography>
      {canEdit && <NewGroup onCreated={groups.reload} />}
      <Async state={groups} label="Loading groups">
        {(list) =>
          list.length ? (
            <Grid container spacing={2}>
              {list.map((g) => (
                <Grid key={g.name} size={{ xs: 12, md: 6 }}>
                  <GroupCard group={g} onChanged={groups.reload} />
                </Grid>
              ))}
            </Grid>
          ) : (
            <EmptyState title="No feature groups yet" />
          )
        }
      </Async>
      <Typography variant="h4" component="h2">
        Entities
      </Typography>
      <Paper variant="outlined">
        <Async state={entities} label="Loading entities">
          {(list) => (
            <Table size="small" aria-label="Entities">
              <TableHead>
                <TableRow>
                  <TableCell>Name</TableCell>
                  <TableCell>Join key</TableCell>
                  <TableCell>Id type</TableCell>
                  <TableCell>Description</TableCell>
                  <TableCell>Features</TableCell>
                  {isAdmin && <TableCell>Actions</TableCell>}
                </TableRow>
              </TableHead>
              <TableBody>
                {list.map((e) => (
                  <TableRow key={e.name}>
                    <TableCell>{e.name}</TableCell>
                    <TableCell>{e.join_key}</TableCell>
                    <TableCell>{e.value_type}</TableCell>
                    <TableCell>{e.description}</TableCell>
                    <TableCell>
                      <Link to={`/features?entity=${encodeURIComponent(e.name)}`}>Its features</Link>
                    </TableCell>
                    {isAdmin && (
                      <TableCell>
                        <ConfirmDelete
                          size="small"
                          what={`entity ${e.name}`}
                          consequences="An entity that features still use cannot be deleted; this cannot be undone."
                          onDelete={async () => {
                            await ok(api.DELETE("/api/v1/entities/{name}", { params: { path: { name: e.name } } }));
                            entities.reload();
                          }}
                        />
                      </TableCell>
                    )}
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          )}
        </Async>
        {canEdit && <NewEntity onCreated={entities.reload} />}
      </Paper>
    </Stack>
  );
}
