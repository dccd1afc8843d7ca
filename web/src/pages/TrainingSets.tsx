import {
  Alert,
  Autocomplete,
  Box,
  Button,
  Checkbox,
  FormControlLabel,
  Link as MuiLink,
  MenuItem,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from "@mui/material";
import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, message, ok, type Problem } from "../api/client";
import { useApi } from "../hooks/useApi";

type Format = "json" | "csv" | "parquet";
interface Preview {
  columns: string[];
  rows: Record<string, unknown>[];
}

const PREVIEW_ROWS = 50;
const EXTENSION: Record<Format, string> = { json: "json", csv: "csv", parquet: "parquet" };

function PreviewTable({ preview }: { preview: Preview }) {
  return (
    <TableContainer component={Paper} variant="outlined" sx={{ maxHeight: 420 }}>
      <Table size="small" stickyHeader aria-label="Training set preview">
        <TableHead>
          <TableRow>
            {preview.columns.map((c) => (
              <TableCell key={c}>{c}</TableCell>
            ))}
          </TableRow>
        </TableHead>
        <TableBody>
          {preview.rows.slice(0, PREVIEW_ROWS).map((row, i) => (
            <TableRow key={i}>
              {preview.columns.map((c) => (
                <TableCell key={c}>{row[c] == null ? "–" : String(row[c])}</TableCell>
              ))}
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </TableContainer>
  );
}

export default function TrainingSets() {
  const features = useApi(() => ok(api.GET("/api/v1/features", { params: { query: { limit: 1000 } } })), []);
  const [picked, setPicked] = useState<string[]>([]);
  const [file, setFile] = useState<File | null>(null);
  const [timestampColumn, setTimestampColumn] = useState("event_timestamp");
  const [transformed, setTransformed] = useState(true);
  const [format, setFormat] = useState<Format>("csv");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<{ url: string; name: string; rows?: Preview } | null>(null);
  useEffect(() => () => (result ? URL.revokeObjectURL(result.url) : undefined), [result]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!file || picked.length === 0) {
      setError("Pick at least one feature and an entity file (CSV or Parquet).");
      return;
    }
    setBusy(true);
    setError(null);
    setResult(null);
    const form = new FormData();
    form.append("file", file);
    picked.forEach((f) => form.append("features", f));
    form.append("timestamp_column", timestampColumn);
    form.append("transformed", String(transformed));
    form.append("format", format);
    try {
      const { data, error: problem, response } = await api.POST("/api/v1/training-sets/upload", {
        body: form as never,
        bodySerializer: (body: unknown) => body as FormData,
        parseAs: "blob",
      });
      if (!response.ok || !data) {
        const text = problem instanceof Blob ? await problem.text() : JSON.stringify(problem);
        throw new ApiError(JSON.parse(text || "{}") as Problem);
      }
      const blob = data as Blob;
      const rows = format === "json" ? (JSON.parse(await blob.text()) as Preview) : undefined;
      setResult({ url: URL.createObjectURL(blob), name: `training_set.${EXTENSION[format]}`, rows });
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Stack spacing={2}>
      <Typography variant="h4" component="h1">
        Training sets
      </Typography>
      <Typography color="text.secondary">
        Upload entity rows (the entity&apos;s join key and a timestamp column, plus any labels): each row gets the
        feature values as they were at its timestamp, never later ones (a point-in-time join).
      </Typography>
      <Paper component="form" variant="outlined" sx={{ p: 3 }} onSubmit={submit} noValidate>
        <Stack spacing={2}>
          {error && <Alert severity="error">{error}</Alert>}
          <Autocomplete
            multiple
            options={(features.data?.items ?? []).map((f) => f.name)}
            value={picked}
            onChange={(_, value) => setPicked(value)}
            loading={features.loading}
            renderInput={(params) => <TextField {...params} label="Features" placeholder="Pick features" />}
          />
          <Box>
            <Button variant="outlined" component="label">
              Choose an entity file (CSV or Parquet)
              <input
                hidden
                type="file"
                accept=".csv,.parquet,.pq,text/csv"
                aria-label="Entity file"
                onChange={(e) => setFile(e.target.files?.[0] ?? null)}
              />
            </Button>
            <Typography component="span" sx={{ ml: 2 }} color="text.secondary">
              {file ? `${file.name} (${file.size} bytes)` : "No file chosen"}
            </Typography>
          </Box>
          <Stack direction={{ xs: "column", sm: "row" }} spacing={2}>
            <TextField label="Timestamp column" value={timestampColumn} onChange={(e) => setTimestampColumn(e.target.value)} />
            <TextField select label="Format" value={format} onChange={(e) => setFormat(e.target.value as Format)} sx={{ minWidth: 160 }}>
              <MenuItem value="csv">CSV</MenuItem>
              <MenuItem value="parquet">Parquet</MenuItem>
              <MenuItem value="json">JSON (with a preview)</MenuItem>
            </TextField>
            <FormControlLabel
              control={<Checkbox checked={transformed} onChange={(e) => setTransformed(e.target.checked)} />}
              label="Transformed values"
            />
          </Stack>
          <Box>
            <Button type="submit" variant="contained" disabled={busy}>
              {busy ? "Building…" : "Build training set"}
            </Button>
          </Box>
        </Stack>
      </Paper>
      {result && (
        <Stack spacing={2}>
          <Alert severity="success">
            Ready:{" "}
            <MuiLink href={result.url} download={result.name}>
              Download {result.name}
            </MuiLink>
          </Alert>
          {result.rows && <PreviewTable preview={result.rows} />}
        </Stack>
      )}
    </Stack>
  );
}
