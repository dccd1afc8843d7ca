import { Button } from "@mui/material";
import { Link } from "react-router-dom";
import { EmptyState } from "../components/states";

export default function NotFound() {
  return (
    <EmptyState title="No such page">
      <Button component={Link} to="/">
        Go to the overview
      </Button>
    </EmptyState>
  );
}
