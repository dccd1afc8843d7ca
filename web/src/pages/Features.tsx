import AddIcon from "@mui/icons-material/Add";
import {
  Box,
  Button,
  Chip,
  MenuItem,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableContainer,
  TableHead,
  TablePagination,
  TableRow,
  TextField,
  Typography,
} from "@mui/material";
import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { FEATURE_FILTERS as FILTERS, featureChoices, featurePage, featuresQuery, type FeatureFilter as Filter } from "../api/pageCalls";
import { useAuth } from "../auth/AuthContext";
import { EmptyState, ErrorState, LoadDemoHint, Loading } from "../components/states";
import { useApi } from "../hooks/useApi";
import { useDebounced } from "../hooks/useDebounced";

export default function Features() {
  const { canEdit } = useAuth();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const [search, setSearch] = useState(params.get("q") ?? "");
  const q = useDebounced(search);
  const page = Number(params.get("page") ?? 0);
  const limit = Number(params.get("limit") ?? 25);
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ""])) as Record<Filter, string>;

  const set = (changes: Record<string, string | number>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value === "" || value === 0) next.delete(key);
      else next.set(key, String(value));
    }
    setParams(next, { replace: true });
  };

  const choices = useApi(featureChoices, []);
  const query = featuresQuery(params, q);
  const state = useApi(() => featurePage(query), [JSON.stringify(query)]);
  const filtered = Boolean(q) || FILTERS.some((f) => filters[f]);

  return (
    <Box>
      <Stack direction="row" sx={{ justifyContent: "space-between", alignItems: "center", mb: 2 }}>
        <Typography variant="h4" component="h1">
          Features
        </Typography>
        {canEdit && (
          <Button variant="contained" startIcon={<AddIcon />} component={Link} to="/features/new">
            New feature
          </Button>
        )}
      </Stack>
      <Paper variant="outlined" sx={{ p: 2, mb: 2 }}>
        <Stack direction={{ xs: "column", sm: "row" }} spacing={2} useFlexGap sx={{ flexWrap: "wrap" }}>
          <TextField
            label="Search by name"
            type="search"
            value={search}
            onChange={(e) => {
              setSearch(e.target.value);
              set({ q: e.target.value, page: 0 });
            }}
            size="small"
            sx={{ minWidth: 220 }}
          />
          <TextField
            select
            label="Group"
            size="small"
            value={filters.group}
            onChange={(e) => set({ group: e.target.value, page: 0 })}
            sx={{ minWidth: 150 }}
          >
            <MenuItem value="">Any group</MenuItem>
            {choices.data?.groups.map((g) => (
              <MenuItem key={g.name} value={g.name}>
                {g.name}
              </MenuItem>
            ))}
          </TextField>
          <TextField
            select
            label="Entity"
            size="small"
            value={filters.entity}
            onChange={(e) => set({ entity: e.target.value, page: 0 })}
            sx={{ minWidth: 150 }}
          >
            <MenuItem value="">Any entity</MenuItem>
            {choices.data?.entities.map((en) => (
              <MenuItem key={en.name} value={en.name}>
                {en.name}
              </MenuItem>
            ))}
          </TextField>
          <TextField
            select
            label="Type"
            size="small"
            value={filters.type}
            onChange={(e) => set({ type: e.target.value, page: 0 })}
            sx={{ minWidth: 150 }}
          >
            <MenuItem value="">Any type</MenuItem>
            <MenuItem value="numerical">numerical</MenuItem>
            <MenuItem value="categorical">categorical</MenuItem>
          </TextField>
          <TextField
            label="Tag"
            size="small"
            value={filters.tag}
            onChange={(e) => set({ tag: e.target.value, page: 0 })}
            sx={{ width: 130 }}
          />
          <TextField
            label="Owner"
            size="small"
            value={filters.owner}
            onChange={(e) => set({ owner: e.target.value, page: 0 })}
            sx={{ width: 130 }}
          />
        </Stack>
      </Paper>
      {state.error ? (
        <ErrorState error={state.error} onRetry={state.reload} />
      ) : !state.data ? (
        <Loading label="Loading features" />
      ) : state.data.total === 0 ? (
        filtered ? (
          <EmptyState title="No feature matches these filters" />
        ) : (
          <LoadDemoHint />
        )
      ) : (
        <Paper variant="outlined">
          <TableContainer>
            <Table size="small" aria-label="Features" sx={{ opacity: state.loading ? 0.6 : 1 }}>
              <TableHead>
                <TableRow>
                  <TableCell>Name</TableCell>
                  <TableCell>Entity</TableCell>
                  <TableCell>Type</TableCell>
                  <TableCell>Group</TableCell>
                  <TableCell>Version</TableCell>
                  <TableCell>Tags</TableCell>
                  <TableCell>Owner</TableCell>
                </TableRow>
              </TableHead>
              <TableBody>
                {state.data.items.map((f) => (
                  <TableRow
                    key={f.name}
                    hover
                    sx={{ cursor: "pointer" }}
                    onClick={() => navigate(`/features/${encodeURIComponent(f.name)}`)}
                  >
                    <TableCell>
                      <Link to={`/features/${encodeURIComponent(f.name)}`} onClick={(e) => e.stopPropagation()}>
                        {f.name}
                      </Link>
                    </TableCell>
                    <TableCell>{f.entity}</TableCell>
                    <TableCell>{f.type}</TableCell>
                    <TableCell>{f.group ?? ""}</TableCell>
                    <TableCell>{f.current_version ?? ""}</TableCell>
                    <TableCell>
                      {f.tags?.map((t) => <Chip key={t} label={t} size="small" sx={{ mr: 0.5 }} />)}
                    </TableCell>
                    <TableCell>{f.owner}</TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </TableContainer>
          <TablePagination
            component="div"
            count={state.data.total}
            page={Math.min(page, Math.max(0, Math.ceil(state.data.total / limit) - 1))}
            rowsPerPage={limit}
            rowsPerPageOptions={[10, 25, 50, 100]}
            onPageChange={(_, p) => set({ page: p })}
            onRowsPerPageChange={(e) => set({ limit: Number(e.target.value), page: 0 })}
          />
        </Paper>
      )}
    </Box>
  );
}
