/* loyalty-bridge support dashboard: copy buttons, confirmations, and two live
   views (an event in progress, a bulk replay) that poll the admin API. */
(function () {
  "use strict";

  function copyText(input, button) {
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 2000);
    };
    var fallback = function () {
      input.focus();
      input.select();
      try { document.execCommand("copy"); } catch (e) { /* the text stays selected for Ctrl+C */ }
      done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var input = document.querySelector(button.getAttribute("data-copy"));
    if (input) { copyText(input, button); }
  });

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("the server answered " + response.status); }
        return response.json();
      });
  }

  /* An event being processed: reload the page once its status changes. */
  function watchEvent(section) {
    var url = section.getAttribute("data-live-event");
    var status = section.getAttribute("data-live-status");
    var deadline = Date.now() + 5 * 60 * 1000;
    function poll() {
      getJSON(url).then(function (event) {
        if (event.status !== status) { window.location.reload(); return; }
        if (Date.now() < deadline) { setTimeout(poll, 1000); }
      }, function () {
        if (Date.now() < deadline) { setTimeout(poll, 3000); }
      });
    }
    setTimeout(poll, 1000);
  }

  /* A bulk replay: done / failed / remaining every second until it ends. */
  function watchReplay(section) {
    var url = section.getAttribute("data-replay-url");
    var field = function (name) { return section.querySelector("[data-field='" + name + "']"); };
    var bar = section.querySelector("progress");
    function render(job) {
      var processed = job.done + job.failed;
      var percent = job.total ? Math.floor(100 * processed / job.total) : 100;
      ["done", "failed", "remaining", "total"].forEach(function (name) { field(name).textContent = job[name]; });
      bar.max = job.total || 1;
      bar.value = job.total ? processed : 1;
      field("percent").textContent = percent + " %";
      var badge = field("status");
      badge.textContent = job.status;
      badge.className = "badge badge-" + job.status;
      field("error").hidden = true;
      if (job.status === "running") { return true; }
      var summary = field("summary");
      summary.textContent = job.status === "finished"
        ? "Finished: " + job.done + " replayed, " + job.failed + " failed."
        : "Cancelled: " + job.done + " replayed, " + job.failed + " failed, " + job.cancelled + " not replayed.";
      summary.hidden = false;
      var cancel = field("cancel");
      if (cancel) { cancel.hidden = true; }
      field("events-link").hidden = false;
      return false;
    }
    function poll() {
      getJSON(url).then(function (job) {
        if (render(job)) { setTimeout(poll, 1000); }
      }, function (error) {
        var box = field("error");
        box.textContent = "Could not refresh the progress (" + error.message + "); retrying…";
        box.hidden = false;
        setTimeout(poll, 3000);
      });
    }
    if (section.getAttribute("data-replay-status") === "running") { setTimeout(poll, 1000); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-event]").forEach(watchEvent);
    document.querySelectorAll("[data-replay-url]").forEach(watchReplay);
  });
})();
