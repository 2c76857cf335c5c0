/* The pages' one event stream (served at /events.js to paired pages).
 * A page holds one of the daemon's few event-stream places and one of the browser's six
 * connections, whatever its blocks want: posdEvents.on(kind, fn) calls fn(msg) with each parsed
 * event of that kind ({kind, at, data}; "message" for unnamed ones), posdEvents.state(fn) calls
 * fn("open") / fn("error") as the stream connects and drops. The stream opens on first use.
 */
"use strict";
window.posdEvents = window.posdEvents || (function () {
  let es = null;
  const kinds = {};
  const states = [];
  function deliver(kind, ev) {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { return; }  // not JSON: ignore
    for (const fn of kinds[kind] || []) {
      try { fn(msg); } catch (e) { console.error(e); }  // one block's bug never starves another
    }
  }
  function source() {
    if (es) return es;
    es = new EventSource("/api/events");
    es.onopen = () => states.forEach((fn) => fn("open"));
    es.onerror = () => states.forEach((fn) => fn("error"));
    es.onmessage = (ev) => deliver("message", ev);
    return es;
  }
  return {
    on(kind, fn) {
      const s = source();
      if (!kinds[kind]) {
        kinds[kind] = [];
        if (kind !== "message") s.addEventListener(kind, (ev) => deliver(kind, ev));
      }
      kinds[kind].push(fn);
    },
    state(fn) {
      states.push(fn);
      if (source().readyState === EventSource.OPEN) fn("open");
    },
  };
})();
