import { Connection } from "./connection";
import { ReportCard } from "./report-card";
import { StoryCard } from "./story-card";

// A server component: the cards are client components, rendered here first, then hydrated.
export default function Home() {
  return (
    <main>
      <header>
        <h1>jobcast + Next.js</h1>
        <p>
          The work runs in jobcast's workers, off the request path; this page follows it over
          Socket.IO, through Next&apos;s rewrites (one origin). Reload mid-job: it comes back.
        </p>
        <Connection />
      </header>
      <ReportCard />
      <StoryCard />
    </main>
  );
}
