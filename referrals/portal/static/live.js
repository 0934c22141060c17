/* The live conversation page: new messages appear without a reload. Every 4 s the page itself is fetched
   again (same URL, same session cookie) and only its thread list is swapped in, so what the caseworker is
   typing in the answer box stays as it is. Stops when the conversation is no longer open. */
(function () {
  "use strict";
  var thread = document.querySelector("ol.thread");
  if (!thread || !window.fetch || !window.DOMParser) {
    return;
  }
  function refresh() {
    // Marked as the page's own refresh: it does not count as activity, so the idle sign-out still comes.
    window.fetch(window.location.pathname, { credentials: "same-origin",
                                             headers: { "Accept": "text/html", "X-Background-Refresh": "1" } })
      .then(function (response) {
        if (response.redirected) { // signed out (idle timeout): the thread must not stay on screen
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) {
          return;
        }
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.querySelector("ol.thread");
        if (fresh && fresh.innerHTML !== thread.innerHTML) {
          thread.innerHTML = fresh.innerHTML;
        }
        if (page.querySelector("[data-open='1']")) {
          window.setTimeout(refresh, 4000);
        }
      }, function () { window.setTimeout(refresh, 10000); });
  }
  window.setTimeout(refresh, 4000);
})();
