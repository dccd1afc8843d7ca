import { lazy, Suspense } from "react";
import { Route, Routes } from "react-router-dom";
import { useAuth } from "./auth/AuthContext";
import { Layout } from "./components/Layout";
import { ErrorState, Loading } from "./components/states";

// One chunk per page: the first load fetches only the shell and the page shown.
const loaders = {
  overview: () => import("./pages/Overview"),
  features: () => import("./pages/Features"),
  feature: () => import("./pages/FeatureDetail"),
  form: () => import("./pages/FeatureForm"),
  groups: () => import("./pages/Groups"),
  training: () => import("./pages/TrainingSets"),
  history: () => import("./pages/History"),
  users: () => import("./pages/Users"),
  signIn: () => import("./pages/SignIn"),
  notFound: () => import("./pages/NotFound"),
};
const Overview = lazy(loaders.overview);
const Features = lazy(loaders.features);
const FeatureDetail = lazy(loaders.feature);
const FeatureForm = lazy(loaders.form);
const Groups = lazy(loaders.groups);
const TrainingSets = lazy(loaders.training);
const History = lazy(loaders.history);
const Users = lazy(loaders.users);
const SignIn = lazy(loaders.signIn);
const NotFound = lazy(loaders.notFound);

/** Starts loading the page of ``path`` while the session is checked, not after. */
export function preload(path: string): void {
  const [, first, second] = path.split("/");
  const key: keyof typeof loaders =
    first === ""
      ? "overview"
      : first === "features"
        ? second === undefined || second === ""
          ? "features"
          : second === "new" || path.endsWith("/edit")
            ? "form"
            : "feature"
        : first === "training-sets"
          ? "training"
          : ((["groups", "history", "users"] as const).find((k) => k === first) ?? "notFound");
  void loaders[key]();
}

export default function App() {
  const { status, error } = useAuth();
  if (status === "loading") return <Loading label="Connecting to the FStore API" />;
  if (status === "error") return <ErrorState error={error} onRetry={() => window.location.reload()} />;
  if (status === "signedOut")
    return (
      <Suspense fallback={<Loading />}>
        <SignIn />
      </Suspense>
    );
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
