import { Box, Paper, Typography, useTheme } from "@mui/material";
import { useNavigate } from "react-router-dom";
import { api, ok } from "../../api/client";
import { Async } from "../../components/states";
import { useApi } from "../../hooks/useApi";

const ROW = 44;
const BOX_W = 180;

/** Dependencies (left) → the feature (centre) → dependents (right), transitively. */
function Graph({ name, upstream, downstream }: { name: string; upstream: string[]; downstream: string[] }) {
  const theme = useTheme();
  const navigate = useNavigate();
  const rows = Math.max(upstream.length, downstream.length, 1);
  const height = rows * ROW + 16;
  const width = 3 * BOX_W + 2 * 80;
  const column = (items: string[], x: number) =>
    items.map((item, i) => ({ item, x, y: 8 + (height - 16 - items.length * ROW) / 2 + i * ROW }));
  const left = column(upstream, 0);
  const right = column(downstream, 2 * BOX_W + 160);
  const centre = { item: name, x: BOX_W + 80, y: (height - ROW) / 2 + 4 };
  const node = (n: { item: string; x: number; y: number }, main = false) => (
    <g
      key={`${n.x}-${n.item}`}
      transform={`translate(${n.x},${n.y})`}
      role={main ? undefined : "link"}
      tabIndex={main ? undefined : 0}
      aria-label={main ? undefined : `Open ${n.item}`}
      style={{ cursor: main ? "default" : "pointer" }}
      onClick={() => !main && navigate(`/features/${encodeURIComponent(n.item)}`)}
      onKeyDown={(e) => !main && e.key === "Enter" && navigate(`/features/${encodeURIComponent(n.item)}`)}
    >
      <rect
        width={BOX_W}
        height={ROW - 12}
        rx={6}
        fill={main ? theme.palette.primary.main : theme.palette.background.paper}
        stroke={theme.palette.primary.main}
      />
      <text
        x={BOX_W / 2}
        y={(ROW - 12) / 2 + 5}
        textAnchor="middle"
        fontSize={13}
        fill={main ? theme.palette.primary.contrastText : theme.palette.text.primary}
      >
        {n.item.length > 24 ? `${n.item.slice(0, 23)}…` : n.item}
      </text>
    </g>
  );
  const edge = (from: { x: number; y: number }, to: { x: number; y: number }, key: string) => (
    <path
      key={key}
      d={`M${from.x + BOX_W},${from.y + 16} C${from.x + BOX_W + 40},${from.y + 16} ${to.x - 40},${to.y + 16} ${to.x},${to.y + 16}`}
      fill="none"
      stroke={theme.palette.text.disabled}
      markerEnd="url(#arrow)"
    />
  );
  return (
    <Box sx={{ overflowX: "auto" }}>
      <svg width={width} height={height} role="img" aria-label={`Lineage of ${name}`}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto">
            <path d="M0,0 L10,5 L0,10 z" fill={theme.palette.text.disabled} />
          </marker>
        </defs>
        {left.map((n) => edge(n, centre, `l-${n.item}`))}
        {right.map((n) => edge(centre, n, `r-${n.item}`))}
        {left.map((n) => node(n))}
        {node(centre, true)}
        {right.map((n) => node(n))}
      </svg>
    </Box>
  );
}

export function LineagePanel({ name }: { name: string }) {
  const state = useApi(async () => {
    const params = { params: { path: { name }, query: { transitive: true } } };
    const [deps, dependents] = await Promise.all([
      ok(api.GET("/api/v1/features/{name}/dependencies", params)),
      ok(api.GET("/api/v1/features/{name}/dependents", params)),
    ]);
    return { upstream: deps.features, downstream: dependents.features };
  }, [name]);
  return (
    <Paper variant="outlined" sx={{ p: 2 }}>
      <Typography color="text.secondary" gutterBottom>
        Depends on (left) and needed by (right), transitively.
      </Typography>
      <Async state={state} label="Loading lineage">
        {(l) =>
          l.upstream.length || l.downstream.length ? (
            <Graph name={name} upstream={l.upstream} downstream={l.downstream} />
          ) : (
            <Typography>{name} depends on no feature, and no feature depends on it.</Typography>
          )
        }
      </Async>
    </Paper>
  );
}
