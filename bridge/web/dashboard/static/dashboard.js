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

  /* Go live: the Check and Test buttons post JSON (with the page's CSRF
     token) and show the answer; the same JSON as `connections check|test --json`. */
  function postJSON(section, url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json",
                 "X-CSRF-Token": section.getAttribute("data-csrf") },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () {
        throw new Error("the server answered " + response.status);
      });
    });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function showError(box, message) {
    box.replaceChildren(element("p", "result-bad", message));
  }

  function renderChecklist(box, report) {
    var list = element("ul", "checklist");
    report.checks.forEach(function (item) {
      var row = element("li", item.ok ? "check-ok" : "check-bad");
      row.setAttribute("data-check", item.name);
      row.appendChild(element("span", "mark", item.ok ? "✓" : "✗"));
      row.appendChild(element("strong", null, item.name.replace(/_/g, " ")));
      row.appendChild(element("span", "detail", " " + item.detail));
      if (item.fix) { row.appendChild(element("p", "fix", item.fix)); }
      list.appendChild(row);
    });
    var summary = element("p", report.ok ? "result-ok" : "result-bad",
      report.ok ? "Every check passed: the connection is ready for a test transaction."
                : "Not ready: fix the items marked ✗, then check again.");
    summary.setAttribute("data-testid", "check-summary");
    box.replaceChildren(summary, list);
  }

  function renderTest(section, box, result) {
    if (result.error) { showError(box, result.error); return; }
    var text = result.ok
      ? "✓ Delivered: " + result.earned_points + " point(s) earned, new balance " + result.balance + "."
      : "✗ Not awarded (" + result.status + "): " + (result.reason || "see the event");
    var line = element("p", result.ok ? "result-ok" : "result-bad", text);
    line.setAttribute("data-testid", "test-result");
    box.replaceChildren(line);
    if (result.event_id) {
      var link = element("a", "small", "Event " + result.event_id);
      link.href = section.getAttribute("data-events-url") + "/" + result.event_id;
      box.appendChild(link);
    }
  }

  function goLive(section) {
    var checkButton = section.querySelector("[data-golive-check]");
    var checkBox = section.querySelector("[data-check-result]");
    checkButton.addEventListener("click", function () {
      checkButton.disabled = true;
      checkBox.replaceChildren(element("p", "muted", "Checking…"));
      postJSON(section, section.getAttribute("data-check-url")).then(function (report) {
        if (report.error) { showError(checkBox, report.error); } else { renderChecklist(checkBox, report); }
      }, function (error) { showError(checkBox, "The check did not finish: " + error.message); })
        .then(function () { checkButton.disabled = false; });
    });
    var form = section.querySelector("[data-golive-test]");
    var testBox = section.querySelector("[data-test-result]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      testBox.replaceChildren(element("p", "muted", "Sending one test transaction…"));
      postJSON(section, section.getAttribute("data-test-url"),
               { customer: form.elements.customer.value, amount: form.elements.amount.value })
        .then(function (result) { renderTest(section, testBox, result); },
              function (error) { showError(testBox, "The test did not finish: " + error.message); })
        .then(function () { submit.disabled = false; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-event]").forEach(watchEvent);
    document.querySelectorAll("[data-replay-url]").forEach(watchReplay);
    document.querySelectorAll("[data-golive]").forEach(goLive);
  });
})();
