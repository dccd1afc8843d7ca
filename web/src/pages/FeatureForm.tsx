import {
  Alert,
  Box,
  Button,
  Checkbox,
  FormControlLabel,
  Grid,
  MenuItem,
  Paper,
  Stack,
  TextField,
  Typography,
} from "@mui/material";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { api, ok, type Feature } from "../api/client";
import { fieldErrors } from "../api/fieldErrors";
import { useAuth } from "../auth/AuthContext";
import { Async, EmptyState } from "../components/states";
import { useApi } from "../hooks/useApi";

const KINDS = ["", "standard_scaler", "minmax_scaler", "label_encoder", "onehot_encoder"] as const;
const FIELDS = [
  "name", "entity", "type", "description", "group", "tags", "owner", "nullable", "ttl_seconds",
  "dependencies", "transformer", "version", "reason",
] as const;

interface Values {
  name: string;
  entity: string;
  type: "numerical" | "categorical";
  description: string;
  group: string;
  tags: string;
  owner: string;
  nullable: boolean;
  ttl_seconds: string;
  dependencies: string;
  kind: string;
  params: string;
  version: string;
  reason: string;
}

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function initial(feature: Feature | undefined, kind: string, params: unknown): Values {
  return {
    name: feature?.name ?? "",
    entity: feature?.entity ?? "",
    type: (feature?.type as Values["type"]) ?? "numerical",
    description: feature?.description ?? "",
    group: feature?.group ?? "",
    tags: (feature?.tags ?? []).join(", "),
    owner: feature?.owner ?? "",
    nullable: feature?.nullable ?? false,
    ttl_seconds: feature?.ttl_seconds ? String(feature.ttl_seconds) : "",
    dependencies: (feature?.dependencies ?? []).join(", "),
    kind,
    params: params && Object.keys(params).length ? JSON.stringify(params) : "",
    version: "",
    reason: "",
  };
}

function Form({ feature, kind, params }: { feature?: Feature; kind: string; params: unknown }) {
  const navigate = useNavigate();
  const editing = Boolean(feature);
  const [values, setValues] = useState<Values>(() => initial(feature, kind, params));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const choices = useApi(
    async () => ({
      entities: await ok(api.GET("/api/v1/entities")),
      groups: await ok(api.GET("/api/v1/groups")),
    }),
    [],
  );
  const firstEntity = choices.data?.entities[0]?.name;
  if (!editing && !values.entity && firstEntity) setValues((v) => ({ ...v, entity: firstEntity })); // a default, once loaded

  const set = <K extends keyof Values>(key: K) => (value: Values[K]) => setValues((v) => ({ ...v, [key]: value }));
  const text = (key: keyof Values, label: string, extra: object = {}) => ({
    label,
    value: values[key] as string,
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => set(key)(e.target.value as never),
    error: Boolean(errors[key === "kind" || key === "params" ? "transformer" : key]),
    helperText: errors[key === "kind" || key === "params" ? "transformer" : key],
    fullWidth: true,
    ...extra,
  });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    let parsedParams: Record<string, unknown> = {};
    if (values.params.trim()) {
      try {
        parsedParams = JSON.parse(values.params);
      } catch {
        setErrors({ transformer: "parameters must be a JSON object, e.g. {\"clip\": true}" });
        return;
      }
    }
    const transformer = values.kind ? { kind: values.kind as never, params: parsedParams } : null;
    // an unchanged transformer is not sent: sending it again would not keep its fitted state
    const same = values.kind === kind && JSON.stringify(parsedParams) === JSON.stringify(params ?? {});
    const common = {
      entity: values.entity,
      type: values.type,
      description: values.description,
      group: values.group || null,
      tags: list(values.tags),
      owner: values.owner,
      nullable: values.nullable,
      ttl_seconds: values.ttl_seconds ? Number(values.ttl_seconds) : null,
      dependencies: list(values.dependencies),
      ...(feature && same ? {} : { transformer }),
      version: values.version || null,
      reason: values.reason,
    };
    setBusy(true);
    setErrors({});
    try {
      if (feature) {
        await ok(api.PATCH("/api/v1/features/{name}", { params: { path: { name: feature.name } }, body: common }));
        navigate(`/features/${encodeURIComponent(feature.name)}?tab=versions`);
      } else {
        const created = await ok(api.POST("/api/v1/features", { body: { ...common, name: values.name } as never }));
        navigate(`/features/${encodeURIComponent(created.name)}`);
      }
    } catch (e) {
      setErrors(fieldErrors(e, FIELDS));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Paper component="form" onSubmit={submit} variant="outlined" sx={{ p: 3 }} noValidate>
      {errors[""] && (
        <Alert severity="error" sx={{ mb: 2 }}>
          {errors[""]}
        </Alert>
      )}
      <Grid container spacing={2}>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("name", "Name")} required disabled={editing} />
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("entity", "Entity")} select required>
            {(choices.data?.entities ?? []).map((e) => (
              <MenuItem key={e.name} value={e.name}>
                {e.name}
              </MenuItem>
            ))}
            {values.entity && !choices.data?.entities.some((e) => e.name === values.entity) && (
              <MenuItem value={values.entity}>{values.entity}</MenuItem>
            )}
          </TextField>
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("type", "Type")} select>
            <MenuItem value="numerical">numerical</MenuItem>
            <MenuItem value="categorical">categorical</MenuItem>
          </TextField>
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("group", "Group")} select>
            <MenuItem value="">No group</MenuItem>
            {(choices.data?.groups ?? []).map((g) => (
              <MenuItem key={g.name} value={g.name}>
                {g.name}
              </MenuItem>
            ))}
          </TextField>
        </Grid>
        <Grid size={12}>
          <TextField {...text("description", "Description")} multiline minRows={2} />
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("tags", "Tags (comma-separated)")} />
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("owner", "Owner")} />
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("ttl_seconds", "TTL (seconds)")} type="number" />
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("dependencies", "Depends on (feature names, comma-separated)")} />
        </Grid>
        <Grid size={12}>
          <FormControlLabel
            control={<Checkbox checked={values.nullable} onChange={(e) => set("nullable")(e.target.checked)} />}
            label="Values may be null"
          />
        </Grid>
        <Grid size={12}>
          <Typography variant="h6" component="h2">
            Transformer
          </Typography>
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("kind", "Transformer")} select>
            {KINDS.map((k) => (
              <MenuItem key={k} value={k}>
                {k || "None"}
              </MenuItem>
            ))}
          </TextField>
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField
            {...text("params", "Parameters (JSON)")}
            placeholder='{"handle_unknown": "ignore"}'
            helperText={errors.transformer ? undefined : "Empty for the defaults"}
            error={false}
          />
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("version", "Version (default: bumped by the rules)")} placeholder="1.1.0" />
        </Grid>
        <Grid size={{ xs: 12, sm: 6 }}>
          <TextField {...text("reason", "Reason for the change")} />
        </Grid>
      </Grid>
      <Stack direction="row" spacing={2} sx={{ mt: 3 }}>
        <Button type="submit" variant="contained" disabled={busy}>
          {editing ? "Save new version" : "Create feature"}
        </Button>
        <Button component={Link} to={feature ? `/features/${encodeURIComponent(feature.name)}` : "/features"}>
          Cancel
        </Button>
      </Stack>
    </Paper>
  );
}

export default function FeatureForm() {
  const name = useParams().name;
  const { canEdit } = useAuth();
  const state = useApi(async () => {
    if (!name) return { feature: undefined, kind: "", params: {} };
    const path = { params: { path: { name } } };
    const feature = await ok(api.GET("/api/v1/features/{name}", path));
    const versions = await ok(api.GET("/api/v1/features/{name}/versions", path));
    const current = versions.find((v) => v.version === feature.current_version);
    return { feature, kind: current?.transformer?.kind ?? "", params: current?.transformer?.params ?? {} };
  }, [name]);
  if (!canEdit) return <EmptyState title="Your role cannot create or edit features" />;
  return (
    <Box>
      <Typography variant="h4" component="h1" gutterBottom>
        {name ? `Edit ${name}` : "New feature"}
      </Typography>
      <Async state={state}>{(s) => <Form feature={s.feature} kind={s.kind} params={s.params} />}</Async>
    </Box>
  );
}
