import { render, screen } from "@testing-library/react";
import type { Feature } from "../../api/client";
import { Freshness } from "./Summary";

const base = { name: "age", entity: "customer" } as Feature;
const stats = (secondsAgo: number) => ({
  feature_id: "age",
  count: 1,
  nulls: 0,
  last_event: new Date(Date.now() - secondsAgo * 1000).toISOString(),
});

test("freshness against the TTL", () => {
  const { rerender } = render(<Freshness feature={{ ...base, ttl_seconds: 3600 }} stats={stats(60)} />);
  expect(screen.getByRole("alert")).toHaveTextContent(/fresh/);
  rerender(<Freshness feature={{ ...base, ttl_seconds: 3600 }} stats={stats(7200)} />);
  expect(screen.getByRole("alert")).toHaveTextContent(/expired/);
  rerender(<Freshness feature={base} stats={stats(60)} />);
  expect(screen.getByRole("alert")).toHaveTextContent(/never expire/);
  rerender(<Freshness feature={base} stats={{ feature_id: "age", count: 0, nulls: 0 }} />);
  expect(screen.getByRole("alert")).toHaveTextContent(/No values stored yet/);
});
