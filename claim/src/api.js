// The gateway's API (DESIGN §9), same origin only. Nothing from the URL fragment is ever sent.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function call(path, init = {}) {
  let resp;
  try {
    resp = await fetch(path, {
      ...init,
      cache: "no-store",
      credentials: "same-origin",
      referrerPolicy: "no-referrer",
      headers: { Accept: "application/json", ...(init.body ? { "Content-Type": "application/json" } : {}) },
    });
  } catch {
    throw new ApiError(0, "network", "the claim service cannot be reached");
  }
  let body = null;
  try {
    body = await resp.json();
  } catch {
    body = null;
  }
  if (!resp.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(resp.status, err.code || `http_${resp.status}`, err.message || `the claim service answered ${resp.status}`);
  }
  if (!body || typeof body !== "object") throw new ApiError(resp.status, "bad_answer", "the claim service gave an answer this page cannot read");
  return body;
}

export const getConfig = () => call("/api/config");

export const getReceipt = (till, seq) => call(`/api/receipts/${till}/${seq.toString()}`);

export const postClaim = (till, seq, recipient, signature) =>
  call("/api/claims", {
    method: "POST",
    // seq is a uint64: written as a JSON number from its exact decimal text, never through a float
    body: `{"till":${JSON.stringify(till)},"seq":${BigInt(seq).toString()},"recipient":${JSON.stringify(recipient)},"signature":${JSON.stringify(signature)}}`,
  });
