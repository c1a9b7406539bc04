// Types of posd's JavaScript client (posd.js). The API's full description
// is docs/openapi.json (served at /v1/openapi.json). Money is integer fen.

export type PaymentState = 'awaiting_scan' | 'paying' | 'in_doubt' | 'awaiting_customer' | 'cancelling' | 'paid' | 'failed' | 'cancelled' | 'needs_attention';
export type RefundState = 'refunding' | 'in_doubt' | 'refunded' | 'failed' | 'needs_attention';

export interface PosdErrorBody { code: string; message: string }

export interface Refund {
  refund_id: string; refund_request_no: string; amount: number; reason?: string; state: RefundState;
  gateway_refund_no?: string; attempts: number; error?: PosdErrorBody | null; created_at: string; updated_at: string;
}

export interface Discount { name: string; label: string; amount: number }

export interface Payment {
  id: string; order_id: string; amount: number; currency: string; subject?: string; operator?: string; till_id?: string;
  state: PaymentState; needs_attention: boolean; channel: string; funding?: string; auth_code_masked: string;
  gateway: string; gateway_account?: string; gateway_order_no: string; gateway_trade_no: string; channel_trade_no: string;
  refunded_amount: number; discounts?: Discount[]; customer_paid?: number; method?: 'miniprogram' | 'qr';
  /** A QR payment's code to show (while awaiting_customer) and when posd closes it. */
  qr?: { qr_code?: string; expires_at: string }; switch_requested?: boolean;
  error: PosdErrorBody | null; created_at: string; updated_at: string; paid_at?: string;
  history: { at: string; state: string; trigger?: string; gateway_code?: string; note?: string; raw?: string }[];
  refunds: Refund[];
}

export interface NewPayment {
  order_id: string; amount: number; currency?: 'CNY'; subject?: string; operator?: string;
  /** The customer's payment code; without it the payment waits for a scan. */
  auth_code?: string;
  /** 'qr': the till shows a QR code the customer scans (answered once shown). */
  method?: 'code' | 'qr';
  /** For method qr: the wallet (routing; required by Shouqianba). */
  channel?: 'wechat' | 'alipay' | 'unionpay' | 'ecny';
  /** For method qr: seconds the code is shown, 30-300 (default 120). */
  expires_in?: number;
  items?: { name: string; quantity: number; amount: number }[];
}

export interface NewRefund { refund_id: string; amount: number; reason?: string; operator?: string }

export interface Health {
  status: 'ok' | 'attention' | 'degraded'; version: string; provider: string; till_id: string; journal: string;
  in_doubt: number; awaiting_customer: number; needs_attention: number; refunds_in_doubt: number; message?: string;
  gateways: { name: string; default?: boolean; last_success?: string; last_failure?: string; last_error?: string }[];
  devices: { name: string; kind: 'scanner' | 'printer'; type: string; state: string; detail?: string }[];
  origin_allowed?: boolean;
}

export interface PosdEvent { type: 'payment' | 'refund' | 'scan' | 'device'; at: string; payment?: Payment; refund?: Refund; scan?: object; device?: object }

export declare class PosdError extends Error {
  status: number;
  code?: string;
}

export declare function isSettled(p: Payment): boolean;

export interface EventHandlers {
  on?(event: PosdEvent): void;
  onSnapshot?(openPayments: Payment[]): void;
  onRefetch?(reason: string): void;
  onError?(error: unknown): void;
  /** Resume after this event id (replays what was missed). */
  lastEventId?: string;
}

export interface PosdClient {
  health(): Promise<Health>;
  createPayment(req: NewPayment): Promise<Payment>;
  getPayment(id: string, opts?: { wait?: number }): Promise<Payment>;
  paymentByOrder(orderId: string): Promise<Payment>;
  waitPayment(id: string, opts?: { timeoutSeconds?: number }): Promise<Payment>;
  cancel(id: string): Promise<Payment>;
  refund(id: string, req: NewRefund): Promise<{ refund: Refund; payment: Payment }>;
  scan(code: string): Promise<Payment>;
  /** A URL for <img src> (carries the token: keep it on this till). */
  receiptUrl(id: string, format?: 'png' | 'text' | 'escpos'): string;
  events(handlers: EventHandlers): { close(): void; lastEventId(): string };
}

export declare function createClient(opts: { baseUrl?: string; token: string; fetch?: typeof fetch }): PosdClient;
