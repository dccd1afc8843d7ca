import { Alert, Box, Button, Grid, Paper, Stack, TextField, Typography } from "@mui/material";
import { useState, type FormEvent } from "react";
import { api, message, ok, type Feature, type Schemas } from "../../api/client";
import { useAuth } from "../../auth/AuthContext";
import { LineChartCard } from "../../components/LazyCharts";

type Served = Schemas["FeatureValue"];
type Row = { value: unknown; event_timestamp: string };

function AddValue({ feature, entity, onAdded }: { feature: Feature; entity: string; onAdded: () => void }) {
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    const parsed = feature.type === "numerical" ? Number(value) : value;
    try {
      await ok(
        api.POST("/api/v1/features/{name}/values", {
          params: { path: { name: feature.name } },
          body: { entity_id: entity, value: parsed },
        }),
      );
      setValue("");
      onAdded();
    } catch (e) {
      setError(message(e));
    }
  };
  return (
    <Box component="form" onSubmit={submit} sx={{ mt: 2 }}>
      <Stack direction="row" spacing={1} sx={{ alignItems: "flex-start" }}>
        <TextField
          size="small"
          label={`New value for ${entity}`}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          error={Boolean(error)}
          helperText={error ?? "Stored with the current time as its event time"}
          required
        />
        <Button type="submit" variant="outlined">
          Ingest
        </Button>
      </Stack>
    </Box>
  );
}

export function LookupPanel({ feature, onIngested }: { feature: Feature; onIngested: () => void }) {
  const { canEdit } = useAuth();
  const [entity, setEntity] = useState("");
  const [shown, setShown] = useState<string | null>(null);
  const [served, setServed] = useState<Served | null>(null);
  const [history, setHistory] = useState<Row[]>([]);
  const [error, setError] = useState<string | null>(null);

  const lookup = async (id: string) => {
    setError(null);
    setShown(id);
    const path = { name: feature.name };
    try {
      const rows = await ok(
        api.GET("/api/v1/features/{name}/values", { params: { path, query: { entity_id: id, limit: 1000 } } }),
      );
      setHistory(rows as Row[]);
      setServed(await ok(api.GET("/api/v1/features/{name}/values/{entity_id}", { params: { path: { ...path, entity_id: id } } })));
    } catch (e) {
      setServed(null);
      setError(message(e));
    }
  };

  return (
    <Grid container spacing={2}>
      <Grid size={{ xs: 12, md: 5 }}>
        <Paper variant="outlined" sx={{ p: 2 }}>
          <Box
            component="form"
            onSubmit={(e: FormEvent) => {
              e.preventDefault();
              void lookup(entity.trim());
            }}
          >
            <Stack direction="row" spacing={1}>
              <TextField
                size="small"
                label={`${feature.entity} id`}
                value={entity}
                onChange={(e) => setEntity(e.target.value)}
                required
                fullWidth
              />
              <Button type="submit" variant="contained" sx={{ flexShrink: 0 }}>
                Look up
              </Button>
            </Stack>
          </Box>
          {error && (
            <Alert severity="warning" sx={{ mt: 2 }}>
              {error}
            </Alert>
          )}
          {served && (
            <Box sx={{ mt: 2 }} aria-live="polite">
              <Typography>
                Value: <strong data-testid="served-value">{String(served.value)}</strong>
              </Typography>
              <Typography>
                Transformed: <strong>{served.transformed == null ? "–" : JSON.stringify(served.transformed)}</strong>
              </Typography>
              <Typography color="text.secondary">
                Status {served.status} · version {served.version ?? "–"} · event time{" "}
                {new Date(served.event_timestamp).toLocaleString()}
              </Typography>
            </Box>
          )}
          {shown && canEdit && (
            <AddValue
              feature={feature}
              entity={shown}
              onAdded={() => {
                void lookup(shown);
                onIngested();
              }}
            />
          )}
        </Paper>
      </Grid>
      <Grid size={{ xs: 12, md: 7 }}>
        {shown && (
          <LineChartCard
            title={`Values of ${shown} by event time`}
            data={history
              .filter((r) => typeof r.value === "number")
              .map((r) => ({ x: new Date(r.event_timestamp).toLocaleString(), y: r.value as number }))}
            yLabel="value"
            summary={`${history.length} values`}
          />
        )}
      </Grid>
    </Grid>
  );
}
