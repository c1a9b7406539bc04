// posd's JavaScript client: no dependencies, for browsers (fetch,
// EventSource) and Node 18+ (fetch; events over a streamed fetch). Types:
// posd.d.ts. API reference: docs/api.md; how a page connects: docs/web-ui.md.

/** An error answer of posd's API: status, code and message, as posd sent them. */
export class PosdError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.name = 'PosdError';
    this.status = status;
    this.code = code;
  }
}

const settled = new Set(['paid', 'failed', 'cancelled', 'needs_attention']);

/** Whether a payment (and its refunds) needs nothing more from posd. */
export function isSettled(p) {
  return settled.has(p.state) && (p.refunds || []).every(r => ['refunded', 'failed', 'needs_attention'].includes(r.state));
}

/**
 * A client of one posd. baseUrl defaults to http://127.0.0.1:8421; token is
 * posd's API token (posd token).
 */
export function createClient({ baseUrl = 'http://127.0.0.1:8421', token, fetch: fetchFn = globalThis.fetch } = {}) {
  if (!token) throw new TypeError('posd: a token is needed (posd token prints it)');
  const base = baseUrl.replace(/\/+$/, '');
  async function call(method, path, body) {
    const r = await fetchFn(base + path, {
      method,
      headers: { 'Authorization': 'Bearer ' + token, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    let json = null;
    try { json = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) {
      const e = json && json.error;
      throw new PosdError(r.status, e && e.code, e && e.message);
    }
    return json;
  }
  const enc = encodeURIComponent;
  const client = {
    health: () => call('GET', '/v1/health'),
    createPayment: req => call('POST', '/v1/payments', req),
    getPayment: (id, { wait = 0 } = {}) => call('GET', `/v1/payments/${enc(id)}${wait ? '?wait=' + wait : ''}`),
    paymentByOrder: orderId => call('GET', `/v1/payments?order_id=${enc(orderId)}`),
    cancel: id => call('POST', `/v1/payments/${enc(id)}/cancel`),
    refund: (id, req) => call('POST', `/v1/payments/${enc(id)}/refunds`, req),
    scan: code => call('POST', '/v1/scans', { code }),
    receiptUrl: (id, format = 'png') => `${base}/v1/payments/${enc(id)}/receipt?format=${enc(format)}&access_token=${enc(token)}`,
    /** Waits (long-polling) until payment id is settled, or timeoutSeconds pass. */
    async waitPayment(id, { timeoutSeconds = 120 } = {}) {
      const end = Date.now() + timeoutSeconds * 1000;
      for (;;) {
        const left = Math.ceil((end - Date.now()) / 1000);
        const p = await client.getPayment(id, { wait: Math.max(1, Math.min(30, left)) });
        if (isSettled(p) || Date.now() >= end) return p;
      }
    },
    events: handlers => events(base, token, fetchFn, handlers),
  };
  return client;
}

/**
 * Follows posd's events: on(event) for each payment, refund, scan and device
 * event, onSnapshot(payments) when the stream starts afresh, onRefetch(reason)
 * when events were lost. It reconnects by itself and gets what it missed
 * (Last-Event-ID). Returns { close(), lastEventId() }: the id to resume from
 * in a later events({ lastEventId }).
 */
function events(base, token, fetchFn, { on = () => {}, onSnapshot = () => {}, onRefetch = () => {}, onError = () => {}, lastEventId = '' } = {}) {
  let last = lastEventId;
  const dispatch = (type, data, id) => {
    if (id) last = id;
    const d = JSON.parse(data || 'null');
    if (type === 'snapshot') onSnapshot(d.payments);
    else if (type === 'refetch') onRefetch(d.reason);
    else on(d);
  };
  const url = () => `${base}/v1/events?access_token=${encodeURIComponent(token)}${last ? '&last_event_id=' + encodeURIComponent(last) : ''}`;
  if (typeof EventSource !== 'undefined' && fetchFn === globalThis.fetch) {
    const es = new EventSource(url());
    for (const type of ['payment', 'refund', 'scan', 'device', 'snapshot', 'refetch']) {
      es.addEventListener(type, e => dispatch(type, e.data, e.lastEventId));
    }
    es.onerror = onError;
    return { close: () => es.close(), lastEventId: () => last };
  }
  // Node: Server-Sent Events read from a streamed fetch, reconnected by hand.
  let closed = false, ctrl = null;
  (async () => {
    let delay = 500;
    while (!closed) {
      ctrl = new AbortController();
      try {
        const r = await fetchFn(url(), { signal: ctrl.signal, headers: last ? { 'Last-Event-ID': last } : {} });
        if (!r.ok) throw new Error(`events: HTTP ${r.status}`);
        delay = 500;
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        let buf = '', ev = { type: '', data: '', id: '' };
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i).replace(/\r$/, '');
            buf = buf.slice(i + 1);
            if (line === '') {
              if (ev.type) dispatch(ev.type, ev.data, ev.id);
              ev = { type: '', data: '', id: '' };
            } else if (line.startsWith('event: ')) ev.type = line.slice(7);
            else if (line.startsWith('data: ')) ev.data += line.slice(6);
            else if (line.startsWith('id: ')) ev.id = line.slice(4);
          }
        }
      } catch (e) {
        if (closed) return;
        onError(e);
      }
      if (closed) return;
      await new Promise(r => setTimeout(r, delay));
      delay = Math.min(delay * 2, 10000);
    }
  })();
  return { close: () => { closed = true; if (ctrl) ctrl.abort(); }, lastEventId: () => last };
}
