/* What every paired page shares (served at /events.js to any paired page, display scope and up).
 *
 * posdEvents: the page's one event stream. A page holds one of the daemon's few event-stream
 * places and one of the browser's six connections, whatever its blocks want:
 * posdEvents.on(kind, fn) calls fn(msg) with each parsed event of that kind ({kind, at, data};
 * "message" for unnamed ones), posdEvents.state(fn) calls fn("open") / fn("error") as the stream
 * connects and drops. The stream opens on first use.
 *
 * posd: the formatters, so that the pages write amounts and times alike, and request(), the
 * pages' one JSON call to the API (each block words its own errors).
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

window.posd = window.posd || (function () {
  // Amounts are integer minor units on the wire; EUR has 2 decimals.
  const DECIMALS = 2;
  const money = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });
  return {
    DECIMALS,
    // minor units → "€1.29" (not a number: €0.00)
    fmt(minor) { return money.format((Number(minor) || 0) / 10 ** DECIMALS); },
    // DSG wei (a decimal string) as DSG with 18 decimals, exact (BigInt) or cut to `places`
    // digits; not a number: "—", or with {raw: true} the text itself ("—" if null or empty)
    dsg(wei, places, opts) {
      const raw = !!(opts && opts.raw);
      if (raw && (wei === null || wei === undefined || wei === "")) return "—";
      let v;
      try { v = BigInt(String(wei)); } catch (e) { return raw ? String(wei) : "—"; }
      const unit = 10n ** 18n;
      let frac = (v % unit).toString().padStart(18, "0");
      frac = places === undefined ? frac.replace(/0+$/, "") : frac.slice(0, places).replace(/0+$/, "");
      return (v / unit).toString() + (frac ? "." + frac : "") + " DSG";
    },
    // a JSON call with the page's session cookie: {ok, status, data} (data null if the answer is
    // not JSON), or null when the daemon cannot be reached
    async request(method, url, body) {
      const init = { method, credentials: "same-origin", headers: { "Content-Type": "application/json" } };
      if (body !== undefined) init.body = JSON.stringify(body);
      let resp, data = null;
      try { resp = await fetch(url, init); } catch (e) { return null; }
      try { data = await resp.json(); } catch (e) { data = null; }
      return { ok: resp.ok, status: resp.status, data };
    },
    // the time left until `expiresAt` (unix seconds) as "m:ss", never below 0:00
    countdown(expiresAt) {
      const left = Math.max(0, Math.round(Number(expiresAt) - Date.now() / 1000));
      return Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    },
  };
})();
