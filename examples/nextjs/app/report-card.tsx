"use client";

import { useEffect, useState, type FormEvent } from "react";
import { JobcastHttpError, resultUrl } from "jobcast-client";
import { useEnqueue, useJob } from "jobcast-client/react";

import { useSavedJob } from "./saved-job";

interface ReportIn {
  title: string;
  pages: number;
}

interface ReportOut {
  url: string;
  pages: number;
  bytes: number;
}

function timeLeft(eta: number | null): string {
  if (eta === null) return "";
  if (eta < 1) return "almost done";
  return eta < 90 ? `about ${Math.round(eta)} s left` : `about ${Math.round(eta / 60)} min left`;
}

export function ReportCard() {
  const [title, setTitle] = useState("Quarterly report");
  const [pages, setPages] = useState(8);
  const { enqueue, jobId, watchToken, pending, error } = useEnqueue<ReportIn>("report");
  const [saved, save] = useSavedJob("jobcast-example.report");
  useEffect(() => {
    if (jobId) save({ jobId, token: watchToken });
  }, [jobId, watchToken, save]);
  const job = useJob<ReportOut>(saved?.jobId, { token: saved?.token, job: "report" });

  function submit(event: FormEvent) {
    event.preventDefault();
    void enqueue({ title, pages });
  }

  return (
    <section className="card" aria-labelledby="report-heading">
      <h2 id="report-heading">Report</h2>
      <form onSubmit={submit}>
        <label>
          Title <input value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} />
        </label>
        <label>
          Pages{" "}
          <input type="number" min={1} max={200} value={pages}
                 onChange={(e) => setPages(Number(e.target.value))} />
        </label>
        <button type="submit" disabled={pending}>Generate report</button>
      </form>
      {error && (
        <div className="error" role="alert">
          {error.message}
          {error instanceof JobcastHttpError && error.details.length > 0 && (
            <ul>{error.details.map((d, i) => <li key={i}>{d.field}: {d.message}</li>)}</ul>
          )}
        </div>
      )}
      {saved && (
        <div className="job" data-job-id={saved.jobId} data-state={job.state}>
          <div className="bar">
            <progress aria-label="Report progress" max={100} value={job.progress} />
            <span className="percent">{Math.floor(job.progress)} %</span>
          </div>
          <p className="status">
            <span className="state">{job.state}</span>
            {job.message && !job.done && <span className="message"> · {job.message}</span>}
            {!job.done && job.eta !== null && <span> · {timeLeft(job.eta)}</span>}
          </p>
          {job.state === "completed" && job.result && (
            <p>
              <a href={resultUrl(saved.jobId, saved.token ? { token: saved.token } : {})} download>
                Download PDF
              </a>{" "}
              <span className="info">{job.result.pages} pages · {Math.round(job.result.bytes / 1024)} KiB</span>
            </p>
          )}
          {job.reason && <p className="error">{job.reason}</p>}
          {job.error && <p className="error">{job.error.message}</p>}
        </div>
      )}
    </section>
  );
}
