// Charts (recharts): loaded only with the pages that draw them.
import { Paper, Typography, useTheme } from "@mui/material";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";

interface Point {
  x: string | number;
  y: number | null;
}

interface ChartProps {
  title: string;
  data: Point[];
  yLabel: string;
  summary?: string;
  height?: number;
}

function Frame({ title, summary, children }: { title: string; summary?: string; children: React.ReactNode }) {
  return (
    <Paper variant="outlined" sx={{ p: 2 }} component="figure" aria-label={title} style={{ margin: 0 }}>
      <Typography variant="body2" color="text.secondary" component="figcaption" gutterBottom>
        {title}
        {summary ? ` · ${summary}` : ""}
      </Typography>
      {children}
    </Paper>
  );
}

export function LineChartCard({ title, data, yLabel, summary, height = 220 }: ChartProps) {
  const theme = useTheme();
  return (
    <Frame title={title} summary={summary}>
      <ResponsiveContainer width="100%" height={height}>
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke={theme.palette.divider} />
          <XAxis dataKey="x" tick={{ fill: theme.palette.text.secondary, fontSize: 12 }} minTickGap={24} />
          <YAxis tick={{ fill: theme.palette.text.secondary, fontSize: 12 }} width={56} />
          <Tooltip
            contentStyle={{ background: theme.palette.background.paper, borderColor: theme.palette.divider }}
          />
          <Line
            type="monotone"
            dataKey="y"
            name={yLabel}
            stroke={theme.palette.primary.main}
            dot={data.length < 40}
            connectNulls
            isAnimationActive={false}
          />
        </LineChart>
      </ResponsiveContainer>
    </Frame>
  );
}

export function BarChartCard({ title, data, yLabel, summary, height = 220 }: ChartProps) {
  const theme = useTheme();
  return (
    <Frame title={title} summary={summary}>
      <ResponsiveContainer width="100%" height={height}>
        <BarChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke={theme.palette.divider} />
          <XAxis dataKey="x" tick={{ fill: theme.palette.text.secondary, fontSize: 12 }} minTickGap={16} />
          <YAxis tick={{ fill: theme.palette.text.secondary, fontSize: 12 }} width={56} />
          <Tooltip
            contentStyle={{ background: theme.palette.background.paper, borderColor: theme.palette.divider }}
          />
          <Bar dataKey="y" name={yLabel} fill={theme.palette.primary.main} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </Frame>
  );
}
