import { Box, Button, Chip, Grid, Paper, Stack, Typography } from "@mui/material";
import { Link } from "react-router-dom";
import { overview } from "../api/pageCalls";
import { ChangeList } from "../components/ChangeList";
import { LineChartCard } from "../components/LazyCharts";
import { Stat } from "../components/Stat";
import { Async, LoadDemoHint } from "../components/states";
import { useApi } from "../hooks/useApi";

const fmt = (n: number | null | undefined, digits = 1) => (n == null ? "–" : n.toFixed(digits));

export default function Overview() {
  const state = useApi(overview, []);
  return (
    <Box>
      <Typography variant="h4" component="h1" gutterBottom>
        Overview
      </Typography>
      <Async state={state} label="Loading the overview">
        {(o) => (
          <Stack spacing={3}>
            {o.counts.features === 0 && <LoadDemoHint />}
            <Grid container spacing={2}>
              <Grid size={{ xs: 6, md: 3 }}>
                <Stat label="Features" value={o.counts.features} hint={<Link to="/features">Browse features</Link>} />
              </Grid>
              <Grid size={{ xs: 6, md: 3 }}>
                <Stat label="Feature groups" value={o.counts.groups} />
              </Grid>
              <Grid size={{ xs: 6, md: 3 }}>
                <Stat label="Entities" value={o.counts.entities} />
              </Grid>
              <Grid size={{ xs: 6, md: 3 }}>
                <Stat
                  label="Online hit rate"
                  value={o.online.hit_rate == null ? "–" : `${fmt(o.online.hit_rate * 100)} %`}
                  hint={`${o.online.hits} hits, ${o.online.misses} misses`}
                />
              </Grid>
            </Grid>
            <Grid container spacing={2}>
              <Grid size={{ xs: 12, md: 8 }}>
                <LineChartCard
                  title="Values stored per minute (last hour, every writer)"
                  data={o.ingested_per_minute.map((m) => ({
                    x: new Date(m.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
                    y: m.values,
                  }))}
                  yLabel="values"
                  summary={`${o.ingested_last_hour} values stored in the last hour`}
                />
              </Grid>
              <Grid size={{ xs: 12, md: 4 }}>
                <Stack spacing={2}>
                  <Stat
                    label="API latency p50 / p95 (ms)"
                    value={`${fmt(o.latency.p50_ms)} / ${fmt(o.latency.p95_ms)}`}
                    hint={`${o.latency.requests} requests; bucket upper bounds`}
                  />
                  <Paper variant="outlined" sx={{ p: 2 }}>
                    <Typography variant="body2" color="text.secondary" component="h3" gutterBottom>
                      Store health
                    </Typography>
                    <Stack direction="row" spacing={1} useFlexGap sx={{ flexWrap: "wrap" }}>
                      {Object.entries(o.health).map(([name, part]) => (
                        <Chip
                          key={name}
                          color={part.ok ? "success" : "error"}
                          label={`${name}: ${part.ok ? `ok ${fmt(part.latency_ms, 2)} ms` : "down"}`}
                          title={part.error ?? undefined}
                        />
                      ))}
                    </Stack>
                  </Paper>
                </Stack>
              </Grid>
            </Grid>
            <Paper variant="outlined" sx={{ p: 2 }}>
              <Stack direction="row" sx={{ justifyContent: "space-between", alignItems: "center" }}>
                <Typography variant="h6" component="h2">
                  Recent changes
                </Typography>
                <Button component={Link} to="/history" size="small">
                  All changes
                </Button>
              </Stack>
              {o.recent_changes.length ? (
                <ChangeList changes={o.recent_changes} />
              ) : (
                <Typography color="text.secondary">No changes yet.</Typography>
              )}
            </Paper>
          </Stack>
        )}
      </Async>
    </Box>
  );
}
