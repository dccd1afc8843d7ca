import DeleteIcon from "@mui/icons-material/Delete";
import { Alert, Button, Dialog, DialogActions, DialogContent, DialogContentText, DialogTitle } from "@mui/material";
import { useId, useState, type ReactNode } from "react";
import { message } from "../api/client";

interface Props {
  /** What is deleted, for the button's accessible name and the question ("feature age"). */
  what: string;
  /** Deletes it; an error stays in the dialog. */
  onDelete: () => Promise<void>;
  /** What else goes with it (shown in the dialog). */
  consequences?: ReactNode;
  size?: "small" | "medium";
}

/** A delete button that asks first: nothing is deleted until the dialog's Delete is pressed. */
export function ConfirmDelete({ what, onDelete, consequences, size = "medium" }: Props) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const titleId = useId();
  const close = () => {
    setOpen(false);
    setError(null);
  };
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onDelete();
      setOpen(false);
    } catch (e) {
      setError(message(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button color="error" size={size} startIcon={<DeleteIcon />} aria-label={`Delete ${what}`} onClick={() => setOpen(true)}>
        Delete
      </Button>
      <Dialog open={open} onClose={close} aria-labelledby={titleId}>
        <DialogTitle id={titleId}>Delete {what}?</DialogTitle>
        <DialogContent>
          <DialogContentText>{consequences ?? "This cannot be undone."}</DialogContentText>
          {error && (
            <Alert severity="error" sx={{ mt: 2 }}>
              {error}
            </Alert>
          )}
        </DialogContent>
        <DialogActions>
          <Button onClick={close} autoFocus>
            Cancel
          </Button>
          <Button color="error" variant="contained" disabled={busy} onClick={() => void confirm()}>
            Delete
          </Button>
        </DialogActions>
      </Dialog>
    </>
  );
}
