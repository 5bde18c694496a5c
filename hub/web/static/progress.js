// The run page of a running run: follows its progress (records read, phase) through the JSON API once a second,
// without reloading the page; when the run ends, the page is loaded once more to show its counts and events.
(function () {
  "use strict";
  const box = document.getElementById("progress");
  if (!box) {
    return;
  }
  const read = document.getElementById("records-read");
  const phase = document.getElementById("run-phase");
  const status = document.getElementById("run-status");
  const numbers = new Intl.NumberFormat("en");

  async function poll() {
    let wait = 1000;
    try {
      const response = await fetch(box.dataset.url, {headers: {Accept: "application/json"}});
      if (response.ok) {
        const run = await response.json();
        read.textContent = numbers.format(run.records_read);
        phase.textContent = run.phase || "starting";
        status.textContent = run.status;
        status.className = "status-" + run.status;
        if (!run.running) {
          window.location.reload();
          return;
        }
      } else {
        wait = 5000; // logged out, or the server is restarting: ask less often
      }
    } catch (error) {
      wait = 5000;
    }
    window.setTimeout(poll, wait);
  }

  window.setTimeout(poll, 1000);
})();
