/**
 * jobcast-client/react: hooks for React and Next.js client components.
 *
 *     const { enqueue, jobId, pending, error } = useEnqueue("report");
 *     const { state, progress, message, output, result } = useJob(jobId);
 */
export { JobcastProvider, type JobcastProviderProps } from "./context";
export { useJob, type UseJobOptions } from "./useJob";
export { useEnqueue, type UseEnqueue } from "./useEnqueue";
export { useConnectionStatus } from "./useConnectionStatus";
export type { JobView, JobViewState } from "./store";
