// The desk, live: new events from /stream go on top without a reload; times show in the
// reader's zone; a hidden tab counts what arrived in its title. No inline script (CSP).
"use strict";
(function () {
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var at = new Date(t.getAttribute("datetime"));
      if (!isNaN(at)) {
        t.title = t.textContent;
        t.textContent = at.toLocaleString([], { dateStyle: "medium", timeStyle: "medium" });
      }
    });
  }
  localTimes(document);
  var live = document.getElementById("live");
  var list = document.getElementById("events");
  if (!live || !list || !window.EventSource) { return; }
  var title = document.title, unseen = 0;
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { unseen = 0; document.title = title; }
  });
  var source = new EventSource(live.dataset.stream);
  source.addEventListener("open", function () { live.hidden = false; });
  source.addEventListener("error", function () { live.hidden = true; });
  source.addEventListener("event", function (message) {
    if (document.getElementById("event-" + message.lastEventId)) { return; }
    var holder = document.createElement("div");
    holder.innerHTML = message.data;  // the server's own HTML, every source text escaped
    var card = holder.firstElementChild;
    if (!card) { return; }
    card.classList.add("arrived");
    localTimes(card);
    var empty = list.querySelector(".empty");
    if (empty) { empty.remove(); }
    list.insertBefore(card, list.firstChild);
    if (document.hidden) { unseen += 1; document.title = "(" + unseen + ") " + title; }
  });
})();
