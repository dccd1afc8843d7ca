// The charts library is the largest dependency: pages load it after their own content.
import { Box, Skeleton } from "@mui/material";
import { lazy, Suspense, type ComponentProps } from "react";

const charts = () => import("./charts");
const Line = lazy(() => charts().then((m) => ({ default: m.LineChartCard })));
const Bar = lazy(() => charts().then((m) => ({ default: m.BarChartCard })));

type Props = ComponentProps<typeof Line>;

function Placeholder({ height = 220 }: { height?: number }) {
  return (
    <Box role="status" aria-label="Loading a chart">
      <Skeleton variant="rounded" height={height + 48} />
    </Box>
  );
}

export function LineChartCard(props: Props) {
  return (
    <Suspense fallback={<Placeholder height={props.height} />}>
      <Line {...props} />
    </Suspense>
  );
}

export function BarChartCard(props: Props) {
  return (
    <Suspense fallback={<Placeholder height={props.height} />}>
      <Bar {...props} />
    </Suspense>
  );
}
