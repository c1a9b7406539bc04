package fufu_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/fakeclock"
	"github.com/tillworks/posd/paycode"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/fufu"
	"github.com/tillworks/posd/providers/fufu/fufutest"
	"github.com/tillworks/posd/store"
)

const (
	busiID = "581010199011345"
	key    = "0123456789abcdef0123456789abcdef"
	code   = "134567890123456789"
)

var cst = time.FixedZone("CST", 8*3600)

// fixture is the engine on a real journal, an injected clock and a FuFu
// client, against the fake gateway over loopback HTTP on the same clock.
type fixture struct {
	t      *testing.T
	clock  *fakeclock.Clock
	fake   *fufutest.Server
	client *fufu.Client
	eng    *payflow.Engine
	st     *store.Store
	base   string
}

func newFixture(t *testing.T, start time.Time) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: fakeclock.New(start), fake: fufutest.New(busiID, key)}
	f.fake.Now = f.clock.Now
	srv := httptest.NewServer(f.fake)
	t.Cleanup(srv.Close)
	var err error
	f.base = srv.URL + "/gateway/pay"
	f.client, err = fufu.New(fufu.Options{BaseURL: f.base, BusiID: busiID, Key: key, TillID: "till-01", Now: f.clock.Now})
	require.NoError(t, err)
	f.st, err = store.Open(filepath.Join(t.TempDir(), "posd.db"))
	require.NoError(t, err)
	f.eng = payflow.NewEngine(payflow.Config{TillID: "till-01", PollInterval: 5 * time.Second, PayTimeout: 45 * time.Second,
		CancelRetryInterval: 5 * time.Second, CancelAttempts: 3, ScanTimeout: time.Minute},
		f.st, payflow.One("fufu", f.client), payflow.Options{Clock: f.clock, Classify: paycode.Classifier})
	require.NoError(t, f.eng.Start(context.Background()))
	t.Cleanup(func() { f.eng.Close(); f.st.Close() })
	return f
}

// until moves the clock on a second at a time until payment id satisfies ok.
func (f *fixture) until(id string, ok func(*payflow.Payment) bool) *payflow.Payment {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p, err := f.st.Get(id)
		require.NoError(f.t, err)
		if ok(p) {
			return p
		}
		time.Sleep(200 * time.Microsecond)
		f.clock.Advance(time.Second)
	}
	p, _ := f.st.Get(id)
	f.t.Fatalf("payment %s never got there: %s %+v", id, p.State, p.History)
	return nil
}

func settled(p *payflow.Payment) bool { return !p.Live() }

func (f *fixture) pay(order string, amount int64, plan fufutest.Plan) *payflow.Payment {
	f.t.Helper()
	f.fake.SetPlan(code, plan)
	p, _, err := f.eng.CreatePayment(payflow.NewPayment{OrderID: order, Amount: amount, AuthCode: code, Subject: "拿铁 Latte"})
	require.NoError(f.t, err)
	return p
}

// TestPayFlows drives FuFu's branches through the real engine.
func TestPayFlows(t *testing.T) {
	noon := time.Date(2026, 11, 21, 12, 0, 0, 0, cst)
	t.Run("paid at once; funding and wallet kept", func(t *testing.T) {
		f := newFixture(t, noon)
		p := f.until(f.pay("A1", 1250, fufutest.Plan{Credit: "debit"}).ID, settled)
		assert.Equal(t, payflow.StatePaid, p.State)
		assert.Equal(t, "debit", p.Funding)
		assert.Equal(t, "wechat", p.Channel)
		assert.Equal(t, busiID, p.GatewayAccount)
		o, _ := f.fake.Order(p.GatewayOrderNo)
		assert.Equal(t, o.TradeNo, p.GatewayTradeNo)
		assert.Equal(t, "2", o.ChannelType, "a WeChat code is sent as channel 2")
		assert.Zero(t, f.fake.Bad())
	})
	t.Run("numbers as strings", func(t *testing.T) {
		f := newFixture(t, noon)
		p := f.until(f.pay("A1", 1250, fufutest.Plan{NumbersAsStrings: true}).ID, settled)
		assert.Equal(t, payflow.StatePaid, p.State)
	})
	t.Run("in progress, then paid", func(t *testing.T) {
		f := newFixture(t, noon)
		p := f.until(f.pay("A1", 1250, fufutest.Plan{Pay: "in_progress", PaidAfterQueries: 2}).ID, settled)
		assert.Equal(t, payflow.StatePaid, p.State)
		assert.Equal(t, []string{"order", "query", "query"}, f.fake.Ops())
	})
	t.Run("declined", func(t *testing.T) {
		f := newFixture(t, noon)
		p := f.until(f.pay("A1", 1250, fufutest.Plan{Pay: "fail"}).ID, settled)
		assert.Equal(t, payflow.StateFailed, p.State)
		assert.Equal(t, "USER_PAY_FAIL", p.Error.Code)
	})
	t.Run("answer lost after the charge: the query finds it paid", func(t *testing.T) {
		f := newFixture(t, noon)
		p := f.until(f.pay("A1", 1250, fufutest.Plan{Pay: "drop_after_charge"}).ID, settled)
		assert.Equal(t, payflow.StatePaid, p.State)
	})
	t.Run("unpaid: not cancelled while the gateway holds it (80 s), which revokes it", func(t *testing.T) {
		f := newFixture(t, noon)
		p := f.pay("A1", 1250, fufutest.Plan{Pay: "in_progress"})
		p = f.until(p.ID, settled)
		// At 80 s the gateway revokes it and posd's window ends: a query
		// that sees the revocation first settles it failed (state 2), a
		// cancel first settles it cancelled; nothing was charged either way
		// (the order of the two is the clock's, and flaked under load).
		assert.Contains(t, []payflow.State{payflow.StateCancelled, payflow.StateFailed}, p.State, "%+v", p.History)
		o, _ := f.fake.Order(p.GatewayOrderNo)
		assert.NotEqual(t, fufutest.Paid, o.State)
		for _, at := range o.CancelTimes {
			assert.False(t, at.Before(p.PayStartedAt.Add(fufu.PayHold)), "a cancel while the gateway held the pay, at %v", at.Sub(p.PayStartedAt))
		}
	})
	t.Run("aborted at once: cancelled no earlier than 15 s after creation", func(t *testing.T) {
		f := newFixture(t, noon)
		p := f.pay("A1", 1250, fufutest.Plan{Pay: "in_progress", Hold: true})
		f.until(p.ID, func(p *payflow.Payment) bool { return p.State == payflow.StateInDoubt })
		_, err := f.eng.Abort(p.ID)
		require.NoError(t, err)
		p = f.until(p.ID, settled)
		assert.Equal(t, payflow.StateCancelled, p.State, "%+v", p.History)
		o, _ := f.fake.Order(p.GatewayOrderNo)
		require.Len(t, o.CancelTimes, 1, "one cancel, in the window")
		assert.False(t, o.CancelTimes[0].Before(o.Created.Add(15*time.Second)))
		assert.Equal(t, 1, p.CancelAttempts)
	})
	t.Run("a cancel due at 23:30 waits for 01:00, querying meanwhile", func(t *testing.T) {
		f := newFixture(t, time.Date(2026, 11, 21, 23, 29, 0, 0, cst))
		p := f.pay("A1", 1250, fufutest.Plan{Pay: "in_progress", Hold: true})
		f.until(p.ID, func(p *payflow.Payment) bool { return p.State == payflow.StateCancelling })
		queriesBefore := count(f.fake.Ops(), "query")
		p = f.until(p.ID, settled)
		assert.Equal(t, payflow.StateCancelled, p.State, "%+v", p.History)
		o, _ := f.fake.Order(p.GatewayOrderNo)
		require.Len(t, o.CancelTimes, 1)
		assert.Equal(t, time.Date(2026, 11, 22, 1, 0, 0, 0, cst), o.CancelTimes[0].In(cst).Truncate(time.Minute), "sent when the window opens")
		assert.Greater(t, count(f.fake.Ops(), "query"), queriesBefore+10, "queried while waiting")
		assert.Equal(t, time.Date(2026, 11, 22, 1, 0, 0, 0, cst), p.CancelNotBefore.In(cst), "the wait is journaled")
	})
	t.Run("a cancel due at 00:30 waits for 01:00 the same day", func(t *testing.T) {
		f := newFixture(t, time.Date(2026, 11, 22, 0, 29, 0, 0, cst))
		p := f.pay("A1", 1250, fufutest.Plan{Pay: "in_progress", Hold: true})
		p = f.until(p.ID, settled)
		assert.Equal(t, time.Date(2026, 11, 22, 1, 0, 0, 0, cst), p.CancelNotBefore.In(cst))
	})
}

// TestRefunds: a refund, and one whose answer is lost: the refund query
// finds it done and it is not sent again.
func TestRefunds(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 21, 12, 0, 0, 0, cst))
	p := f.until(f.pay("A1", 1000, fufutest.Plan{RefundDrops: 1}).ID, settled)
	require.Equal(t, payflow.StatePaid, p.State)
	_, _, _, err := f.eng.Refund(p.ID, payflow.NewRefund{RefundID: "R1", Amount: 400, Reason: "退货"})
	require.NoError(t, err)
	p = f.until(p.ID, settled)
	r := p.Refund("R1")
	assert.Equal(t, payflow.RefundRefunded, r.State)
	assert.Equal(t, 1, count(f.fake.Ops(), "refund"), "asked about, not sent again")
	assert.Equal(t, 1, count(f.fake.Ops(), "refundQuery"))
	_, _, _, err = f.eng.Refund(p.ID, payflow.NewRefund{RefundID: "R2", Amount: 600})
	require.NoError(t, err)
	p = f.until(p.ID, settled)
	assert.Equal(t, int64(1000), p.RefundedAmount)
	o, _ := f.fake.Order(p.GatewayOrderNo)
	assert.Equal(t, int64(1000), o.Refunded)
	assert.Equal(t, fufutest.Refunded, o.State)
	assert.Zero(t, f.fake.Bad())
}

// TestClient covers what the engine does not reach in one payment: a
// second pay with the same number (SERIAL_REPEAT) charges nothing more; a
// refund number re-sent is settled by the refund query; a pre-order is
// closed unpaid; a wrong key is refused.
func TestClient(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 21, 12, 0, 0, 0, cst))
	ctx := context.Background()
	pay := payflow.PayRequest{OrderNo: "26112100000100000001123456", OrderID: "X1", Amount: 500, AuthCode: code, TillID: "till-01"}
	o, err := f.client.Pay(ctx, pay)
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	assert.Equal(t, pay.OrderNo, o.OrderNo)
	assert.Equal(t, int64(500), o.Amount)
	o, err = f.client.Pay(ctx, pay)
	require.NoError(t, err)
	assert.Equal(t, payflow.Conflict, o.Kind, "SERIAL_REPEAT: the number is taken")
	got, _ := f.fake.Order(pay.OrderNo)
	assert.Equal(t, 2, got.PayCalls)
	assert.Equal(t, int64(500), got.Amount, "charged once")

	ref := payflow.RefundRequest{OrderNo: pay.OrderNo, RequestNo: "26112100000112345678", Amount: 200, TillID: "till-01"}
	o, err = f.client.Refund(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	o, err = f.client.Refund(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, payflow.Unknown, o.Kind, "a number used before: the refund query says what it was")
	o, err = f.client.QueryRefund(ctx, ref)
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	other := ref
	other.Amount = 199
	o, err = f.client.QueryRefund(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, payflow.Unknown, o.Kind, "done for another amount is not this refund")
	other.RequestNo = "26112100000199999999"
	o, err = f.client.QueryRefund(ctx, other)
	require.NoError(t, err)
	assert.Equal(t, payflow.NotFound, o.Kind)

	qr, o, err := f.client.Precreate(ctx, payflow.PayRequest{OrderNo: "26112100000100000002123456", OrderID: "Q1", Amount: 300})
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	assert.Contains(t, qr, "http://www.jnfbg.cn/online/pay/")
	q := payflow.OrderRef{OrderNo: "26112100000100000002123456"}
	o, err = f.client.Close(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	o, err = f.client.Query(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, payflow.Failed, o.Kind, "closed unpaid")
	o, err = f.client.Close(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, payflow.Failed, o.Kind, "already closed")
	o, err = f.client.Close(ctx, payflow.OrderRef{OrderNo: "nope"})
	require.NoError(t, err)
	assert.Equal(t, payflow.NotFound, o.Kind)
	assert.Zero(t, f.fake.Bad())

	bad, err := fufu.New(fufu.Options{BaseURL: f.base, BusiID: busiID, Key: "wrong"})
	require.NoError(t, err)
	o, err = bad.Pay(ctx, payflow.PayRequest{OrderNo: "26112100000100000003123456", Amount: 1, AuthCode: code})
	require.NoError(t, err)
	assert.Equal(t, payflow.Failed, o.Kind, "INVALID_SIGN: refused, nothing charged")
	assert.Equal(t, "INVALID_SIGN", o.Code)
	assert.Equal(t, 1, f.fake.Bad())
}

func count(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}

// TestRefundAnswerHeldToTheRefund: a refund answer about another refund
// number or amount is not a refund.
func TestRefundAnswerHeldToTheRefund(t *testing.T) {
	f := newFixture(t, time.Date(2026, 11, 21, 12, 0, 0, 0, cst))
	ctx := context.Background()
	ref := payflow.RefundRequest{OrderNo: "1", RequestNo: "R1", Amount: 100, TillID: "till-01"}
	for body, want := range map[string]payflow.Kind{
		`{"result":{"return_code":"SUCCESS"},"data":{"return_code":"SUCCESS","out_refund_no":"R1","refund_fee":100}}`: payflow.Succeeded,
		`{"result":{"return_code":"SUCCESS"},"data":{"return_code":"SUCCESS","out_refund_no":"R9","refund_fee":100}}`: payflow.Unknown,
		`{"result":{"return_code":"SUCCESS"},"data":{"return_code":"SUCCESS","out_refund_no":"R1","refund_fee":1}}`:   payflow.Unknown,
	} {
		f.fake.Can("refund", body)
		o, err := f.client.Refund(ctx, ref)
		require.NoError(t, err)
		assert.Equal(t, want, o.Kind, body)
	}
}
