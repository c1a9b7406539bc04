// Tests of posd.js against a real posd: cmd/posd's TestJSClient starts one
// (demo gateway) and runs these with POSD_URL and POSD_TOKEN set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient, PosdError, isSettled } from '../posd.js';

const url = process.env.POSD_URL, token = process.env.POSD_TOKEN;
const skip = !url && 'POSD_URL is not set (cmd/posd TestJSClient runs these)';
const posd = url && createClient({ baseUrl: url, token });
const code = '134567890123456789';

test('create, wait, refund', { skip }, async () => {
  const p = await posd.createPayment({ order_id: 'JS-1', amount: 1250, auth_code: code });
  assert.equal(p.order_id, 'JS-1');
  const done = await posd.waitPayment(p.id, { timeoutSeconds: 20 });
  assert.equal(done.state, 'paid');
  assert.ok(isSettled(done));
  const r = await posd.refund(p.id, { refund_id: 'JS-R1', amount: 250 });
  assert.equal(r.refund.amount, 250);
  const after = await posd.waitPayment(p.id, { timeoutSeconds: 20 });
  assert.equal(after.refunded_amount, 250);
  assert.match(posd.receiptUrl(p.id), /access_token=/);
});

test('cancel a payment awaiting a scan', { skip }, async () => {
  const p = await posd.createPayment({ order_id: 'JS-2', amount: 100 });
  assert.equal(p.state, 'awaiting_scan');
  const c = await posd.cancel(p.id);
  assert.equal(c.state, 'cancelled');
});

test('errors are PosdError with posd\'s code', { skip }, async () => {
  await assert.rejects(posd.createPayment({ order_id: 'JS-3', amount: 12.5 }), e => e instanceof PosdError && e.status === 400 && e.code === 'invalid_request');
  const wrong = createClient({ baseUrl: url, token: 'wrong-token-0123456789' });
  await assert.rejects(wrong.getPayment('x'), e => e.status === 401 && e.code === 'unauthorized');
});

test('events: a snapshot, live events, and what was missed on resuming', { skip }, async () => {
  const seen = [];
  let snapshot = null;
  const paid = new Promise(resolve => {
    const sub = posd.events({
      onSnapshot: ps => { snapshot = ps; },
      on: ev => { if (ev.payment && ev.payment.order_id === 'JS-4') { seen.push(ev.payment.state); if (ev.payment.state === 'paid') { sub.close(); resolve(); } } },
    });
  });
  await new Promise(r => setTimeout(r, 300));
  await posd.createPayment({ order_id: 'JS-4', amount: 100, auth_code: code });
  await paid;
  assert.ok(Array.isArray(snapshot), 'the stream started with a snapshot');
  assert.deepEqual(seen, ['paying', 'paid']);

  // Resuming from an event id gets what happened since, and no snapshot.
  const sub1 = posd.events({});
  await new Promise(r => setTimeout(r, 300));
  sub1.close();
  const lastId = sub1.lastEventId();
  assert.ok(lastId, 'the snapshot has an id');
  const p5 = await posd.createPayment({ order_id: 'JS-5', amount: 100, auth_code: code });
  await posd.waitPayment(p5.id, { timeoutSeconds: 20 });
  const replayed = [];
  let resumedSnapshot = false;
  await new Promise(resolve => {
    const sub = posd.events({
      lastEventId: lastId,
      onSnapshot: () => { resumedSnapshot = true; },
      on: ev => {
        if (ev.payment && ev.payment.order_id === 'JS-5') replayed.push(ev.payment.state);
        if (replayed.includes('paid')) { sub.close(); resolve(); }
      },
    });
  });
  assert.deepEqual(replayed, ['paying', 'paid'], 'the events missed while away');
  assert.equal(resumedSnapshot, false);
});
