// Compiled (not run) by .ci/run with tsc --strict: posd.d.ts must describe
// the client as a TypeScript cash register uses it.
import { createClient, isSettled, PosdError, type PosdClient, type Payment, type Health } from '../posd.js';

const posd: PosdClient = createClient({ baseUrl: 'http://127.0.0.1:8421', token: 'token' });

export async function pay(orderId: string, fen: number, code?: string): Promise<Payment> {
  const p = await posd.createPayment({ order_id: orderId, amount: fen, auth_code: code });
  const done = await posd.waitPayment(p.id, { timeoutSeconds: 60 });
  if (done.state === 'paid' && isSettled(done)) {
    await posd.refund(done.id, { refund_id: orderId + '-R', amount: 1 });
  }
  return done;
}

export async function up(): Promise<boolean> {
  try {
    const h: Health = await posd.health();
    return h.status !== 'degraded';
  } catch (e) {
    return e instanceof PosdError && e.status !== 401;
  }
}

const sub = posd.events({ on: ev => ev.payment?.state, onSnapshot: open => open.length, lastEventId: '' });
sub.close();
const resumeFrom: string = sub.lastEventId();
void resumeFrom;
