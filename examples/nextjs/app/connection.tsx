"use client";

import { useConnectionStatus } from "jobcast-client/react";

export function Connection() {
  const status = useConnectionStatus();
  return (
    <p className="connection" data-status={status} role="status">
      <span className="dot" aria-hidden="true" /> {status}
    </p>
  );
}
