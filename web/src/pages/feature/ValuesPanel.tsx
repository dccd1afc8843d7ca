import { Grid, Paper, Table, TableBody, TableCell, TableRow } from "@mui/material";
import { api, ok, type Feature, type Schemas } from "../../api/client";
import { BarChartCard, LineChartCard } from "../../components/LazyCharts";
import { Async, EmptyState } from "../../components/states";
import { useApi } from "../../hooks/useApi";

type Stats = Schemas["FeatureStatistics"];

const num = (n: number | null | undefined) => (n == null ? "–" : Number(n.toPrecision(6)).toString());

function StatsTable({ stats }: { stats: Stats }) {
  const rows: [string, string][] = [
    ["Values", String(stats.count)],
    ["Nulls", String(stats.nulls)],
    ["Distinct", stats.distinct == null ? "–" : String(stats.distinct)],
    ["Mean", num(stats.mean)],
    ["Std", num(stats.std)],
    ["Min", num(stats.min)],
    ["Max", num(stats.max)],
    ...Object.entries(stats.quantiles ?? {}).map(([q, v]): [string, string] => [`Quantile ${q}`, num(v)]),
  ];
  return (
    <Paper variant="outlined">
      <Table size="small" aria-label="Statistics">
        <TableBody>
          {rows.map(([k, v]) => (
            <TableRow key={k}>
              <TableCell component="th" scope="row" sx={{ color: "text.secondary" }}>
                {k}
              </TableCell>
              <TableCell align="right">{v}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </Paper>
  );
}

export function ValuesPanel({ feature, stats }: { feature: Feature; stats: Stats }) {
  const name = feature.name;
  const path = { params: { path: { name } } };
  const charts = useApi(
    async () => ({
      histogram: await ok(api.GET("/api/v1/features/{name}/statistics/histogram", path)),
      series: await ok(
        api.GET("/api/v1/features/{name}/statistics/timeseries", { params: { path: { name }, query: { periods: 60 } } }),
      ),
      activity: await ok(
        api.GET("/api/v1/features/{name}/ingestion", { params: { path: { name }, query: { hours: 24 } } }),
      ),
    }),
    [name, stats.count],
  );
  if (stats.count === 0) return <EmptyState title="No values stored yet" />;
  const numerical = feature.type === "numerical";
  return (
    <Grid container spacing={2}>
      <Grid size={{ xs: 12, md: 4 }}>
        <StatsTable stats={stats} />
      </Grid>
      <Grid size={{ xs: 12, md: 8 }}>
        <Async state={charts} label="Loading charts">
          {({ histogram, series, activity }) => (
            <Grid container spacing={2}>
              <Grid size={12}>
                {numerical ? (
                  <BarChartCard
                    title="Histogram of current values"
                    data={histogram.bins.map((b) => ({ x: num(b.start), y: b.count }))}
                    yLabel="values"
                    summary={`${histogram.count} values`}
                  />
                ) : (
                  <BarChartCard
                    title="Top categories"
                    data={(stats.top_categories ?? []).map((c) => ({ x: c.value, y: c.count }))}
                    yLabel="values"
                  />
                )}
              </Grid>
              <Grid size={12}>
                <LineChartCard
                  title={numerical ? "Mean value by event time" : "Values by event time"}
                  data={series.periods.map((p) => ({
                    x: new Date(p.start).toLocaleDateString(),
                    y: numerical ? (p.mean ?? null) : p.count,
                  }))}
                  yLabel={numerical ? "mean" : "values"}
                />
              </Grid>
              <Grid size={12}>
                <BarChartCard
                  title={`Values stored per ${activity.period_minutes} minutes (last 24 hours, every writer)`}
                  data={activity.periods.map((p) => ({
                    x: new Date(p.start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
                    y: p.values,
                  }))}
                  yLabel="values"
                  summary={`${activity.total} new values stored in the last 24 hours`}
                />
              </Grid>
            </Grid>
          )}
        </Async>
      </Grid>
    </Grid>
  );
}
