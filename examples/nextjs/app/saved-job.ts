"use client";

import { useCallback, useEffect, useState } from "react";

export interface SavedJob {
  jobId: string;
  token: string | null;
}

/** The job a card started, kept in localStorage so a reload picks it up again (read after the
 *  first render: the server has no localStorage). */
export function useSavedJob(key: string): [SavedJob | null, (job: SavedJob | null) => void] {
  const [job, setJob] = useState<SavedJob | null>(null);
  useEffect(() => {
    try {
      const raw = window.localStorage.getItem(key);
      const parsed = raw ? (JSON.parse(raw) as SavedJob) : null;
      if (parsed && typeof parsed.jobId === "string") setJob(parsed);
    } catch {
      // no storage, or not ours: start afresh
    }
  }, [key]);
  const save = useCallback((next: SavedJob | null) => {
    setJob(next);
    try {
      if (next) window.localStorage.setItem(key, JSON.stringify(next));
      else window.localStorage.removeItem(key);
    } catch {
      // storage full or off: the page still works, it just forgets on reload
    }
  }, [key]);
  return [job, save];
}
