"use client";

import { useEffect, type FormEvent } from "react";
import { useEnqueue, useJob } from "jobcast-client/react";

import { useSavedJob } from "./saved-job";

export function StoryCard() {
  const { enqueue, jobId, watchToken, pending, error } = useEnqueue<{ prompt: string; words: number; word_ms: number }>("story");
  const [saved, save] = useSavedJob("jobcast-example.story");
  useEffect(() => {
    if (jobId) save({ jobId, token: watchToken });
  }, [jobId, watchToken, save]);
  const story = useJob<{ words: number; chars: number }>(saved?.jobId, { token: saved?.token, job: "story" });

  function submit(event: FormEvent) {
    event.preventDefault();
    void enqueue({ prompt: "a quiet queue", words: 150, word_ms: 30 });
  }

  return (
    <section className="card" aria-labelledby="story-heading">
      <h2 id="story-heading">Story</h2>
      <form onSubmit={submit}>
        <button type="submit" disabled={pending}>Write a story</button>
      </form>
      {error && <div className="error" role="alert">{error.message}</div>}
      {saved && (
        <div className="job" data-job-id={saved.jobId} data-state={story.state}>
          <p className="status"><span className="state">{story.state}</span>
            {story.message && !story.done && <span className="message"> · {story.message}</span>}</p>
          <div className="output" aria-live="polite">{story.output}</div>
          {story.result && <p className="info">{story.result.words} words</p>}
        </div>
      )}
    </section>
  );
}
