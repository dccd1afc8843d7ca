import { Chip, List, ListItem, ListItemText } from "@mui/material";
import { Link } from "react-router-dom";
import type { Schemas } from "../api/client";

type Change = Schemas["ChangeRecord"];

// Colours whose text keeps a 4.5:1 contrast in both themes (MUI's info and warning do not).
const COLORS: Record<string, "success" | "primary" | "error" | "default" | "secondary"> = {
  create: "success",
  update: "primary",
  delete: "error",
  rollback: "secondary",
};

export function changeTarget(change: Change) {
  return change.object_type === "feature" ? (
    <Link to={`/features/${encodeURIComponent(change.object_id)}`}>{change.object_id}</Link>
  ) : (
    change.object_id
  );
}

export function ChangeList({ changes }: { changes: Change[] }) {
  return (
    <List dense aria-label="Recent changes">
      {changes.map((change) => (
        <ListItem key={change.id} disableGutters>
          <Chip size="small" label={change.action} color={COLORS[change.action] ?? "default"} sx={{ mr: 1, minWidth: 70 }} />
          <ListItemText
            primary={
              <>
                {change.object_type} {changeTarget(change)}
                {change.version ? ` → ${change.version}` : ""}
              </>
            }
            secondary={`${new Date(change.at!).toLocaleString()}${change.actor ? ` by ${change.actor}` : ""}`}
          />
        </ListItem>
      ))}
    </List>
  );
}
