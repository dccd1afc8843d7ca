import { lazy } from "react";
import { Route, Routes } from "react-router-dom";
import { useAuth } from "./auth/AuthContext";
import { Layout } from "./components/Layout";
import { ErrorState, Loading } from "./components/states";
import SignIn from "./pages/SignIn";

// One chunk per page: the first load fetches only the shell and the page shown.
const Overview = lazy(() => import("./pages/Overview"));
const Features = lazy(() => import("./pages/Features"));
const FeatureDetail = lazy(() => import("./pages/FeatureDetail"));
const FeatureForm = lazy(() => import("./pages/FeatureForm"));
const Groups = lazy(() => import("./pages/Groups"));
const History = lazy(() => import("./pages/History"));
const TrainingSets = lazy(() => import("./pages/TrainingSets"));
const Users = lazy(() => import("./pages/Users"));
const NotFound = lazy(() => import("./pages/NotFound"));

export default function App() {
  const { status, error } = useAuth();
  if (status === "loading") return <Loading label="Connecting to the FStore API" />;
  if (status === "error") return <ErrorState error={error} onRetry={() => window.location.reload()} />;
  if (status === "signedOut") return <SignIn />;
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Overview />} />
        <Route path="features" element={<Features />} />
        <Route path="features/new" element={<FeatureForm />} />
        <Route path="features/:name" element={<FeatureDetail />} />
        <Route path="features/:name/edit" element={<FeatureForm />} />
        <Route path="groups" element={<Groups />} />
        <Route path="training-sets" element={<TrainingSets />} />
        <Route path="history" element={<History />} />
        <Route path="users" element={<Users />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
