import { Alert, Chip, Grid, Paper, Stack, Table, TableBody, TableCell, TableRow, Typography } from "@mui/material";
import { useState } from "react";
import type { Feature, Schemas } from "../../api/client";

type Stats = Schemas["FeatureStatistics"];

function duration(seconds: number): string {
  const units: [number, string][] = [
    [86400, "d"],
    [3600, "h"],
    [60, "min"],
  ];
  for (const [size, unit] of units) if (seconds >= size) return `${(seconds / size).toFixed(1)} ${unit}`;
  return `${Math.round(seconds)} s`;
}

/** How old the newest value is, against the feature's TTL. */
export function Freshness({ feature, stats }: { feature: Feature; stats: Stats | undefined }) {
  const [now] = useState(Date.now); // when the page was shown: a re-render does not change the age
  if (!stats) return null;
  if (!stats.last_event) return <Alert severity="info">No values stored yet.</Alert>;
  const age = (now - new Date(stats.last_event).getTime()) / 1000;
  const ttl = feature.ttl_seconds;
  const text = `Newest value from ${new Date(stats.last_event).toLocaleString()} (${duration(age)} ago)`;
  if (!ttl) return <Alert severity="info">{text}; no TTL: values never expire.</Alert>;
  const fresh = age <= ttl;
  return (
    <Alert severity={fresh ? "success" : "warning"}>
      {text}; TTL {duration(ttl)}: {fresh ? "fresh" : "expired (online lookups answer 'expired')"}.
    </Alert>
  );
}

export function Metadata({ feature }: { feature: Feature }) {
  const rows: [string, React.ReactNode][] = [
    ["Entity", feature.entity],
    ["Type", `${feature.type}${feature.dtype ? ` (${feature.dtype})` : ""}`],
    ["Group", feature.group ?? "–"],
    ["Current version", feature.current_version ?? "–"],
    ["Owner", feature.owner || "–"],
    ["Nullable", feature.nullable ? "yes" : "no"],
    ["TTL", feature.ttl_seconds ? `${feature.ttl_seconds} s` : "none"],
    ["Dependencies", feature.dependencies?.length ? feature.dependencies.join(", ") : "–"],
    ["Created", new Date(feature.created_at!).toLocaleString()],
    ["Updated", new Date(feature.updated_at!).toLocaleString()],
  ];
  const metadata = Object.entries(feature.metadata ?? {});
  return (
    <Grid container spacing={2}>
      <Grid size={{ xs: 12, md: 7 }}>
        <Paper variant="outlined">
          <Table size="small" aria-label="Metadata">
            <TableBody>
              {rows.map(([label, value]) => (
                <TableRow key={label}>
                  <TableCell component="th" scope="row" sx={{ width: 160, color: "text.secondary" }}>
                    {label}
                  </TableCell>
                  <TableCell>{value}</TableCell>
                </TableRow>
              ))}
              {metadata.map(([key, value]) => (
                <TableRow key={`m-${key}`}>
                  <TableCell component="th" scope="row" sx={{ color: "text.secondary" }}>
                    {key}
                  </TableCell>
                  <TableCell>{typeof value === "string" ? value : JSON.stringify(value)}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </Paper>
      </Grid>
      <Grid size={{ xs: 12, md: 5 }}>
        <Typography variant="body2" color="text.secondary" gutterBottom>
          Tags
        </Typography>
        <Stack direction="row" spacing={1} useFlexGap sx={{ flexWrap: "wrap" }}>
          {feature.tags?.length ? feature.tags.map((t) => <Chip key={t} label={t} />) : "–"}
        </Stack>
      </Grid>
    </Grid>
  );
}
