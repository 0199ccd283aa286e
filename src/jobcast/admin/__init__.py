"""Queue administration: what the dashboard and the CLI show and do.

Counts per state, pages of jobs (filtered by job name, searched by id or by the job's data),
one job's whole record, and an operator's actions: retry, cancel, promote, remove, clean,
pause and resume, and bulk retry/cancel of whatever a filter selects. Each action runs
BullMQ's own script (reprocessJob, promote, removeJob, cleanJobsInSet, pause) so Node BullMQ
and Bull Board see exactly what they would after their own; cancel is ``JobQueue.cancel``.

Reads stay bounded whatever a state holds: a page is one range of the state's list or sorted
set (``LRANGE``/``ZRANGE`` with a start and a stop), and a filtered page reads at most
SCAN_BUDGET jobs per call and answers where to go on from (``JobPage.next``).

States are BullMQ's, as an operator reads them: ``waiting`` holds the wait list and the
prioritized set (jobs that run next first); ``paused`` holds the jobs that wait in a paused
queue (BullMQ 6 keeps them in wait and flags the queue), so while a queue is paused its
waiting jobs count as paused, not twice. A failed job that was cancelled lists as
``cancelled``.

Example usage::

    admin = Admin(JobQueue(jobs, settings))
    counts = await admin.counts()
    page = await admin.jobs("report", "failed", search="title:Q3")
    await admin.retry("report", page.jobs[0].id)
"""

from .errors import AdminError, Invalid, NotFound, Refused
from .queues import (
    BULK_ACTIONS,
    BULK_MAX,
    CLEANABLE,
    SCAN_BUDGET,
    STATES,
    Admin,
    BulkAction,
)
from .records import BulkResult, JobDetail, JobPage, JobRow, QueueCounts, Throughput
from .search import Search

__all__ = ["BULK_ACTIONS", "BULK_MAX", "CLEANABLE", "SCAN_BUDGET", "STATES", "Admin",
           "AdminError", "BulkAction", "BulkResult", "Invalid", "JobDetail", "JobPage",
           "JobRow", "NotFound", "QueueCounts", "Refused", "Search", "Throughput"]
