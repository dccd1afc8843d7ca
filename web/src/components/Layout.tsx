import DarkModeIcon from "@mui/icons-material/DarkMode";
import DashboardIcon from "@mui/icons-material/Dashboard";
import HistoryIcon from "@mui/icons-material/History";
import LightModeIcon from "@mui/icons-material/LightMode";
import LogoutIcon from "@mui/icons-material/Logout";
import MenuIcon from "@mui/icons-material/Menu";
import PeopleIcon from "@mui/icons-material/People";
import TableChartIcon from "@mui/icons-material/TableChart";
import WorkspacesIcon from "@mui/icons-material/Workspaces";
import ModelTrainingIcon from "@mui/icons-material/ModelTraining";
import {
  AppBar,
  Box,
  Chip,
  Drawer,
  IconButton,
  List,
  ListItemButton,
  ListItemIcon,
  ListItemText,
  Toolbar,
  Typography,
  useMediaQuery,
  useTheme,
} from "@mui/material";
import { Suspense, useState, type ReactNode } from "react";
import { NavLink, Outlet, useLocation } from "react-router-dom";
import { useAuth } from "../auth/AuthContext";
import { useColorMode } from "../theme";
import { Loading } from "./states";

const WIDTH = 220;

interface NavItem {
  to: string;
  label: string;
  icon: ReactNode;
  admin?: boolean;
}

export const NAV: NavItem[] = [
  { to: "/", label: "Overview", icon: <DashboardIcon /> },
  { to: "/features", label: "Features", icon: <TableChartIcon /> },
  { to: "/groups", label: "Groups & entities", icon: <WorkspacesIcon /> },
  { to: "/training-sets", label: "Training sets", icon: <ModelTrainingIcon /> },
  { to: "/history", label: "Change history", icon: <HistoryIcon /> },
  { to: "/users", label: "Users & API keys", icon: <PeopleIcon />, admin: true },
];

function Nav({ onNavigate }: { onNavigate?: () => void }) {
  const { isAdmin } = useAuth();
  const { pathname } = useLocation();
  return (
    <List component="nav" aria-label="Main">
      {NAV.filter((item) => !item.admin || isAdmin).map((item) => {
        const active = item.to === "/" ? pathname === "/" : pathname.startsWith(item.to);
        return (
          <ListItemButton
            key={item.to}
            component={NavLink}
            to={item.to}
            selected={active}
            aria-current={active ? "page" : undefined}
            onClick={onNavigate}
          >
            <ListItemIcon>{item.icon}</ListItemIcon>
            <ListItemText primary={item.label} />
          </ListItemButton>
        );
      })}
    </List>
  );
}

export function Layout() {
  const theme = useTheme();
  const wide = useMediaQuery(theme.breakpoints.up("md"));
  const [open, setOpen] = useState(false);
  const { mode, toggle } = useColorMode();
  const { principal, devMode, signOut } = useAuth();

  return (
    <Box sx={{ display: "flex", minHeight: "100vh" }}>
      <AppBar position="fixed" sx={{ zIndex: (t) => t.zIndex.drawer + 1 }}>
        <Toolbar>
          {!wide && (
            <IconButton color="inherit" edge="start" aria-label="Open navigation" onClick={() => setOpen(true)}>
              <MenuIcon />
            </IconButton>
          )}
          <Typography variant="h6" component="span" sx={{ flexGrow: 1, ml: wide ? 0 : 1 }}>
            FStore
          </Typography>
          {principal && (
            <Chip
              size="small"
              sx={{ mr: 1, color: "inherit", borderColor: "currentColor" }}
              variant="outlined"
              label={devMode ? "dev mode · admin" : `${principal.name} · ${principal.role}`}
            />
          )}
          <IconButton
            color="inherit"
            onClick={toggle}
            aria-label="Toggle light or dark theme"
            title={mode === "light" ? "Dark theme" : "Light theme"}
          >
            {mode === "light" ? <DarkModeIcon /> : <LightModeIcon />}
          </IconButton>
          {!devMode && principal && (
            <IconButton color="inherit" onClick={() => void signOut()} aria-label="Sign out" title="Sign out">
              <LogoutIcon />
            </IconButton>
          )}
        </Toolbar>
      </AppBar>
      <Drawer
        variant={wide ? "permanent" : "temporary"}
        open={wide || open}
        onClose={() => setOpen(false)}
        sx={{ width: WIDTH, flexShrink: 0, "& .MuiDrawer-paper": { width: WIDTH, boxSizing: "border-box" } }}
      >
        <Toolbar />
        <Nav onNavigate={() => setOpen(false)} />
      </Drawer>
      <Box component="main" sx={{ flexGrow: 1, p: { xs: 2, md: 3 }, minWidth: 0 }}>
        <Toolbar />
        <Suspense fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </Box>
    </Box>
  );
}
