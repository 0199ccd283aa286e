// The host page's own script: jobcast.js found its base (/jobs) from its own URL.
const client = jobcast.connect();
document.getElementById("go").addEventListener("click", async () => {
  const status = document.getElementById("status");
  status.textContent = "starting";
  const { jobId } = await jobcast.start("bulk", { items: 20, item_ms: 20 });
  status.textContent = "running";
  jobcast.watch(client, "bulk", jobId, {
    onProgress: (p) => { document.getElementById("progress").textContent = String(p); },
    onCompleted: (result) => { status.textContent = "done: " + result.items + " items"; },
    onFailed: (reason) => { status.textContent = "failed: " + reason; },
  });
});
