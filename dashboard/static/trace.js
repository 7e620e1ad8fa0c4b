// Trace page: replays a stream's text as it arrived. Chunk text is untrusted: it is only ever appended as a
// text node, never as HTML.
(function () {
  "use strict";
  var MAX_REPLAY_SECONDS = 8;

  function replay(button) {
    var section = button.closest("section.stream");
    var out = section.querySelector(".stream-text");
    button.disabled = true;
    fetch("/api/streams/" + encodeURIComponent(button.dataset.spanId) + "/chunks", { headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) {
        var chunks = data.chunks || [];
        var last = chunks.length ? chunks[chunks.length - 1].offset || 0 : 0;
        var scale = last > MAX_REPLAY_SECONDS ? MAX_REPLAY_SECONDS / last : 1;
        out.textContent = "";
        out.dataset.full = "false";
        var t0 = performance.now();
        var i = 0;
        function step() {
          var elapsed = (performance.now() - t0) / 1000;
          while (i < chunks.length && (chunks[i].offset || 0) * scale <= elapsed) {
            if (typeof chunks[i].content === "string") out.appendChild(document.createTextNode(chunks[i].content));
            i++;
          }
          if (i < chunks.length) { window.requestAnimationFrame(step); }
          else { out.dataset.full = "true"; button.disabled = false; }
        }
        window.requestAnimationFrame(step);
      })
      .catch(function (err) { button.disabled = false; console.warn("replay:", err.message); });
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target instanceof HTMLElement && target.classList.contains("replay-button")) replay(target);
  });
})();
