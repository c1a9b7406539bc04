package shouqianba_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/paycode"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/shouqianba"
	"github.com/tillworks/posd/providers/shouqianba/sqbtest"
	"github.com/tillworks/posd/store"
)

const (
	termSN  = "100000330002383829"
	termKey = "68d499beda5f72116592f5c527465656"
)

// day is a settable clock for check-in days.
type day struct {
	mu sync.Mutex
	t  time.Time
}

func (d *day) now() time.Time { d.mu.Lock(); defer d.mu.Unlock(); return d.t }
func (d *day) next()          { d.mu.Lock(); d.t = d.t.AddDate(0, 0, 1); d.mu.Unlock() }

type fixture struct {
	t      *testing.T
	fake   *sqbtest.Server
	srv    *httptest.Server
	dir    string
	clock  *day
	client *shouqianba.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fake := sqbtest.New(termSN, termKey)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	f := &fixture{t: t, fake: fake, srv: srv, dir: t.TempDir(), clock: &day{t: time.Date(2026, 11, 21, 9, 0, 0, 0, time.Local)}}
	f.client = f.newClient()
	return f
}

func (f *fixture) newClient() *shouqianba.Client {
	f.t.Helper()
	c, err := shouqianba.New(shouqianba.Options{
		BaseURL: f.srv.URL, TillID: "till-01", Terminal: f.terminalFile(),
		Initial: shouqianba.Terminal{SN: termSN, Key: termKey}, Now: f.clock.now,
		PayTimeout: 400 * time.Millisecond, CallTimeout: 2 * time.Second, // the pay window is at least the pay request's time (PayHolder)
	})
	require.NoError(f.t, err)
	f.t.Cleanup(c.WaitCheckin) // before the directory it saves into goes
	return c
}

func (f *fixture) terminalFile() shouqianba.TerminalFile {
	return shouqianba.TerminalFile{Path: filepath.Join(f.dir, "shouqianba-terminal.json")}
}

// engine runs the payflow engine on a real journal against the client.
func (f *fixture) engine() *payflow.Engine {
	f.t.Helper()
	st, err := store.Open(filepath.Join(f.dir, "posd.db"))
	require.NoError(f.t, err)
	eng := payflow.NewEngine(payflow.Config{
		TillID: "till-01", PollInterval: 10 * time.Millisecond, PayTimeout: 400 * time.Millisecond,
		CancelRetryInterval: 10 * time.Millisecond, CancelAttempts: 3, ScanTimeout: time.Minute,
	}, st, payflow.One("shouqianba", f.client), payflow.Options{Classify: paycode.Classifier})
	require.NoError(f.t, eng.Start(context.Background()))
	f.t.Cleanup(func() { eng.Close(); st.Close() })
	return eng
}

func settle(t *testing.T, eng *payflow.Engine, id string) *payflow.Payment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := eng.Wait(ctx, id)
	require.NoError(t, err)
	require.False(t, p.Live(), "payment %s still %s", id, p.State)
	return p
}

// TestPayFlows walks the branches of the vendor's pay→poll→cancel
// pseudo-code (section 2.4) through the engine against the fake gateway.
func TestPayFlows(t *testing.T) {
	tests := []struct {
		name   string
		plan   sqbtest.Plan
		want   payflow.State
		status string // the fake's order status afterwards; "" for no order
		code   string // payment error code
	}{
		{"success", sqbtest.Plan{}, payflow.StatePaid, sqbtest.Paid, ""},
		{"PAY_FAIL", sqbtest.Plan{Pay: "fail"}, payflow.StateFailed, sqbtest.PayCanceled, "EXPIRED_BARCODE"},
		{"PAY_FAIL_ERROR needs attention", sqbtest.Plan{Pay: "fail_error"}, payflow.StateNeedsAttention, sqbtest.PayError, "TRADE_FAILED"},
		{"refused request (400)", sqbtest.Plan{Pay: "client_error"}, payflow.StateFailed, "", "INVALID_BARCODE"},
		{"in progress, then paid", sqbtest.Plan{Pay: "in_progress", PaidAfterQueries: 2}, payflow.StatePaid, sqbtest.Paid, ""},
		{"in progress until the timeout, then CANCEL_SUCCESS", sqbtest.Plan{Pay: "in_progress"}, payflow.StateCancelled, sqbtest.Canceled, ""},
		{"connection dropped after the charge: query finds it paid", sqbtest.Plan{Pay: "drop_after_charge"}, payflow.StatePaid, sqbtest.Paid, ""},
		{"HTTP 500 on pay with no order: not found until the deadline, then cancelled", sqbtest.Plan{Pay: "http500"}, payflow.StateCancelled, "", ""},
		{"queries fail with 5xx before succeeding", sqbtest.Plan{Pay: "in_progress", QueryErrors: 2, PaidAfterQueries: 1}, payflow.StatePaid, sqbtest.Paid, ""},
		{"CANCEL_ERROR, then success on retry", sqbtest.Plan{Pay: "in_progress", CancelErrors: 1}, payflow.StateCancelled, sqbtest.Canceled, ""},
		{"CANCEL_ERROR every time: needs attention with the gateway's words", sqbtest.Plan{Pay: "in_progress", CancelErrors: -1}, payflow.StateNeedsAttention, sqbtest.Created, "cancel_failed"},
		{"Alipay", sqbtest.Plan{Payway: "2"}, payflow.StatePaid, sqbtest.Paid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			eng := f.engine()
			const code = "134567890123456789"
			f.fake.SetPlan(code, tc.plan)
			p, _, err := eng.CreatePayment(payflow.NewPayment{OrderID: "A1", Amount: 1250, AuthCode: code, Subject: "达美乐披萨"})
			require.NoError(t, err)
			p = settle(t, eng, p.ID)
			assert.Equal(t, tc.want, p.State, "%+v", p.History)
			o, exists := f.fake.Order(p.GatewayOrderNo)
			if tc.status == "" {
				assert.False(t, exists)
			} else {
				require.True(t, exists)
				assert.Equal(t, tc.status, o.Status)
				assert.Equal(t, 1, o.PayCalls, "the pay is sent once")
				assert.Equal(t, int64(1250), o.Amount)
			}
			if tc.code != "" {
				require.NotNil(t, p.Error)
				assert.Equal(t, tc.code, p.Error.Code)
				if tc.code == "cancel_failed" {
					assert.Contains(t, p.Error.Message, "撤单失败", "the gateway's words")
				}
			}
			if p.State == payflow.StatePaid {
				assert.Equal(t, o.SN, p.GatewayTradeNo)
				assert.Equal(t, "4200"+o.SN, p.ChannelTradeNo)
				want := "wechat"
				if tc.plan.Payway == "2" {
					want = "alipay"
				}
				assert.Equal(t, want, p.Channel)
			}
			assert.Zero(t, f.fake.BadSignatures, "every request correctly signed")
		})
	}
}

func TestRefunds(t *testing.T) {
	f := newFixture(t)
	eng := f.engine()
	const code = "134567890123456789"
	f.fake.SetPlan(code, sqbtest.Plan{RefundDrops: 1})
	p, _, err := eng.CreatePayment(payflow.NewPayment{OrderID: "A1", Amount: 1000, AuthCode: code})
	require.NoError(t, err)
	p = settle(t, eng, p.ID)
	require.Equal(t, payflow.StatePaid, p.State)

	// Partial: the first answer is lost after the gateway refunded; the
	// retry with the same refund_request_no is answered from its record.
	_, r, _, err := eng.Refund(p.ID, payflow.NewRefund{RefundID: "R1", Amount: 300})
	require.NoError(t, err)
	assert.Equal(t, payflow.RefundRefunding, r.State, "journaled before it is sent")
	p = settle(t, eng, p.ID)
	r = p.Refund("R1")
	assert.Equal(t, payflow.RefundRefunded, r.State)
	assert.Equal(t, 2, r.Attempts)
	o, _ := f.fake.Order(p.GatewayOrderNo)
	assert.Equal(t, map[string]int64{r.RequestNo: 300}, o.Refunds)
	assert.Equal(t, sqbtest.PartialRefunded, o.Status)

	// The rest, in full.
	_, _, _, err = eng.Refund(p.ID, payflow.NewRefund{RefundID: "R2", Amount: 700})
	require.NoError(t, err)
	p = settle(t, eng, p.ID)
	assert.Equal(t, int64(1000), p.RefundedAmount)
	o, _ = f.fake.Order(p.GatewayOrderNo)
	assert.Equal(t, int64(1000), o.Refunded)
	assert.Equal(t, sqbtest.Refunded, o.Status)
	assert.Zero(t, f.fake.BadSignatures)
}

// TestRefundError: REFUND_ERROR leaves the refund needing attention, with
// the gateway's words, never silently failed, and its amount still counts.
func TestRefundError(t *testing.T) {
	f := newFixture(t)
	eng := f.engine()
	const code = "134567890123456789"
	f.fake.SetPlan(code, sqbtest.Plan{RefundError: true})
	p, _, err := eng.CreatePayment(payflow.NewPayment{OrderID: "A1", Amount: 1000, AuthCode: code})
	require.NoError(t, err)
	require.Equal(t, payflow.StatePaid, settle(t, eng, p.ID).State)
	_, _, _, err = eng.Refund(p.ID, payflow.NewRefund{RefundID: "R1", Amount: 400})
	require.NoError(t, err)
	p = settle(t, eng, p.ID)
	r := p.Refund("R1")
	assert.Equal(t, payflow.RefundNeedsAttention, r.State)
	require.NotNil(t, r.Error)
	assert.Equal(t, "UNEXPECTED_PROVIDER_ERROR", r.Error.Code)
	assert.Contains(t, r.Error.Message, "不确定")
	assert.True(t, p.Attention())
	assert.Zero(t, p.RefundedAmount)
	assert.Equal(t, int64(600), p.Refundable(), "an unresolved refund still holds its amount")
	open, err := eng.Open()
	require.NoError(t, err)
	require.Len(t, open, 1, "listed among the payments needing attention")
}

func TestCheckin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ref := payflow.OrderRef{OrderNo: "nope"}

	// The first call of the day starts the check-in, which saves the new key.
	_, err := f.client.Query(ctx, ref)
	require.NoError(t, err)
	f.client.WaitCheckin()
	cur, prev, n := f.fake.Key(termSN)
	assert.Equal(t, 1, n)
	assert.Equal(t, termKey, prev)
	saved, err := f.terminalFile().Load()
	require.NoError(t, err)
	assert.Equal(t, cur, saved.Key, "the new key is on disk")
	assert.Equal(t, "2026-11-21", saved.CheckedIn)
	fi, err := os.Stat(f.terminalFile().Path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// Not again the same day.
	_, err = f.client.Query(ctx, ref)
	require.NoError(t, err)
	f.client.WaitCheckin()
	_, _, n = f.fake.Key(termSN)
	assert.Equal(t, 1, n)

	// The next day, again.
	f.clock.next()
	_, err = f.client.Query(ctx, ref)
	require.NoError(t, err)
	f.client.WaitCheckin()
	_, _, n = f.fake.Key(termSN)
	assert.Equal(t, 2, n)
	assert.Zero(t, f.fake.BadSignatures)
}

// TestCheckinAnswerLost: the gateway rotated the key but its answer was
// lost; the retry is signed with the old key, which the gateway still
// accepts, and the key it then answers is used.
func TestCheckinAnswerLost(t *testing.T) {
	f := newFixture(t)
	f.fake.DropCheckins = 1
	o, err := f.client.Query(context.Background(), payflow.OrderRef{OrderNo: "nope"})
	require.NoError(t, err)
	assert.Equal(t, payflow.NotFound, o.Kind)
	f.client.WaitCheckin()
	cur, _, n := f.fake.Key(termSN)
	assert.Equal(t, 2, n, "checked in twice")
	assert.Equal(t, cur, f.client.Terminal().Key)
	// The query ran beside the check-in; arriving after its second
	// rotation it was refused once and sent again with the new key.
	assert.LessOrEqual(t, f.fake.BadSignatures, 1)

	// Signed with the key the check-in saved, nothing is refused.
	before := f.fake.BadSignatures
	_, err = f.client.Query(context.Background(), payflow.OrderRef{OrderNo: "nope"})
	require.NoError(t, err)
	assert.Equal(t, before, f.fake.BadSignatures)
}

// TestRestartBeforeKeySaved: a till that was answered a new key but died
// before saving it restarts with the old key, which still signs (the
// gateway keeps the previous key valid), and checks in again.
func TestRestartBeforeKeySaved(t *testing.T) {
	f := newFixture(t)
	// The process that crashed: its check-in reached the gateway, and the
	// answer never made it to disk.
	body := []byte(`{"terminal_sn":"` + termSN + `","device_id":"till-01"}`)
	req, _ := http.NewRequest("POST", f.srv.URL+"/terminal/checkin", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", termSN+" "+shouqianba.Sign(body, termKey))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	rotated, prev, _ := f.fake.Key(termSN)
	require.Equal(t, termKey, prev)

	// The restarted till still holds the old key.
	c := f.newClient()
	require.Equal(t, termKey, c.Terminal().Key)
	o, err := c.Query(context.Background(), payflow.OrderRef{OrderNo: "nope"})
	require.NoError(t, err)
	assert.Equal(t, payflow.NotFound, o.Kind)
	c.WaitCheckin()
	cur, _, n := f.fake.Key(termSN)
	assert.Equal(t, 2, n)
	assert.NotEqual(t, rotated, cur)
	assert.Equal(t, cur, c.Terminal().Key)
	// The query raced the check-in: signed with the old key it is valid
	// until the check-in rotates a second time; if it arrived after that,
	// the gateway refused its signature and it was sent again with the new
	// key. Either way it was answered.
	assert.LessOrEqual(t, f.fake.BadSignatures, 1)
}

func TestActivate(t *testing.T) {
	fake := sqbtest.New("", "")
	fake.AddActivationCode("84038959")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	file := shouqianba.TerminalFile{Path: filepath.Join(t.TempDir(), "t.json")}
	a := shouqianba.Activation{BaseURL: srv.URL, VendorSN: fake.VendorSN, VendorKey: fake.VendorKey, AppID: fake.AppID, Code: "84038959", DeviceID: "till-01"}

	bad := a
	bad.VendorKey = "wrong"
	_, err := shouqianba.Activate(context.Background(), nil, bad, file, time.Now())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ILLEGAL_SIGN")

	bad = a
	bad.Code = "00000000"
	_, err = shouqianba.Activate(context.Background(), nil, bad, file, time.Now())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "INVALID_ACTIVATION_CODE")

	bad = a
	bad.AppID = ""
	_, err = shouqianba.Activate(context.Background(), nil, bad, file, time.Now())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "app_id")

	term, err := shouqianba.Activate(context.Background(), nil, a, file, time.Now())
	require.NoError(t, err)
	assert.NotEmpty(t, term.SN)
	loaded, err := file.Load()
	require.NoError(t, err)
	assert.Equal(t, term.Key, loaded.Key)
	cur, _, _ := fake.Key(term.SN)
	assert.Equal(t, cur, term.Key)

	_, err = shouqianba.Activate(context.Background(), nil, a, file, time.Now())
	require.Error(t, err, "activation codes are single-use: refuse to replace a terminal")
	assert.Contains(t, err.Error(), "already activated")

	// The activated terminal can sign.
	c, err := shouqianba.New(shouqianba.Options{BaseURL: srv.URL, TillID: "till-01", Terminal: file})
	require.NoError(t, err)
	t.Cleanup(c.WaitCheckin)
	o, err := c.Query(context.Background(), payflow.OrderRef{OrderNo: "x"})
	require.NoError(t, err)
	assert.Equal(t, payflow.NotFound, o.Kind)
	assert.Equal(t, 1, fake.BadSignatures, "only the activation signed with the wrong vendor key")
}

func TestNotActivated(t *testing.T) {
	_, err := shouqianba.New(shouqianba.Options{Terminal: shouqianba.TerminalFile{Path: filepath.Join(t.TempDir(), "t.json")}})
	assert.ErrorIs(t, err, shouqianba.ErrNotActivated)
}

func TestPrecreateAndRevoke(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	qr, o, err := f.client.Precreate(ctx, payflow.PayRequest{OrderNo: "26112100000000000001", OrderID: "A1", Amount: 500, Channel: "wechat"})
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	assert.Contains(t, qr, "https://qr.shouqianba.com/")

	o, err = f.client.Query(ctx, payflow.OrderRef{OrderNo: "26112100000000000001"})
	require.NoError(t, err)
	assert.Equal(t, payflow.InProgress, o.Kind, "waiting for the customer to scan")

	o, err = f.client.Revoke(ctx, payflow.OrderRef{OrderNo: "26112100000000000001"})
	require.NoError(t, err)
	assert.Equal(t, payflow.Succeeded, o.Kind)
	got, _ := f.fake.Order("26112100000000000001")
	assert.Equal(t, sqbtest.Canceled, got.Status)

	// Query by Shouqianba's sn as well as by client_sn.
	o, err = f.client.Query(ctx, payflow.OrderRef{GatewayTradeNo: got.SN})
	require.NoError(t, err)
	assert.Equal(t, payflow.Failed, o.Kind)
	assert.Equal(t, "CANCELED", o.Code)
	assert.Zero(t, f.fake.BadSignatures)
}

func TestUnreachable(t *testing.T) {
	f := newFixture(t)
	f.srv.Close()
	_, err := f.client.Pay(context.Background(), payflow.PayRequest{OrderNo: "1", Amount: 1, AuthCode: "134567890123456789"})
	assert.ErrorIs(t, err, payflow.ErrNotSent, "connect error: nothing sent")
}

// TestSlowCheckin: a check-in the gateway takes its time over holds up no
// payment. (It used to hold a lock over the network call: six payments
// were paid at 4, 8, 12 and 16 s, and two failed.)
func TestSlowCheckin(t *testing.T) {
	f := newFixture(t)
	gate := make(chan struct{})
	f.fake.CheckinGate = gate
	defer func() { close(gate); f.client.WaitCheckin() }()
	eng := f.engine()
	var ids []string
	for i := range 6 {
		p, _, err := eng.CreatePayment(payflow.NewPayment{OrderID: fmt.Sprintf("A%d", i), Amount: 100, AuthCode: fmt.Sprintf("13456789012345678%d", i)})
		require.NoError(t, err)
		ids = append(ids, p.ID)
	}
	for _, id := range ids {
		assert.Equal(t, payflow.StatePaid, settle(t, eng, id).State, "paid while the check-in is still held")
	}
	_, _, n := f.fake.Key(termSN)
	assert.Zero(t, n, "the check-in has not been answered yet")
	assert.Zero(t, f.fake.BadSignatures)
}

// TestMisbehavingGateway drives the engine against a Shouqianba that
// answers about other orders, with ambiguous JSON, late, or with the
// customer's payment code in its words.
func TestMisbehavingGateway(t *testing.T) {
	const code = "134567890123456789"
	tests := []struct {
		name    string
		plan    sqbtest.Plan
		can     string // a canned answer to /upay/v2/pay
		want    payflow.State
		errCode string
	}{
		{name: "PAY_SUCCESS and PAID for another client_sn and sn", plan: sqbtest.Plan{Misreport: "other_order"},
			want: payflow.StateNeedsAttention, errCode: "gateway_mismatch"},
		{name: "PAY_SUCCESS and PAID for 1 fen", plan: sqbtest.Plan{Misreport: "wrong_amount"},
			want: payflow.StateNeedsAttention, errCode: "gateway_mismatch"},
		{name: "an answer with RESULT_CODE beside result_code is no answer", can: `{"result_code":"200","biz_response":{"result_code":"PAY_IN_PROGRESS","RESULT_CODE":"PAY_SUCCESS","data":{"sn":"7894259200000001","client_sn":"x","total_amount":"1250","order_status":"PAID"}}}`,
			want: payflow.StateCancelled},
		{name: "an answer with result_code twice is no answer", can: `{"result_code":"200","biz_response":{"result_code":"PAY_IN_PROGRESS","result_code":"PAY_SUCCESS"}}`,
			want: payflow.StateCancelled},
		{name: "order recorded late: not found twice, then paid", plan: sqbtest.Plan{Pay: "drop_after_charge", HiddenQueries: 2},
			want: payflow.StatePaid},
		{name: "the code echoed in a decline", plan: sqbtest.Plan{Pay: "fail", EchoCode: true},
			want: payflow.StateFailed, errCode: "EXPIRED_BARCODE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			eng := f.engine()
			f.fake.SetPlan(code, tc.plan)
			if tc.can != "" {
				f.fake.Can("/upay/v2/pay", tc.can)
			}
			p, _, err := eng.CreatePayment(payflow.NewPayment{OrderID: "A1", Amount: 1250, AuthCode: code})
			require.NoError(t, err)
			p = settle(t, eng, p.ID)
			assert.Equal(t, tc.want, p.State, "%+v", p.History)
			if tc.errCode != "" {
				require.NotNil(t, p.Error)
				assert.Equal(t, tc.errCode, p.Error.Code)
			}
			if tc.plan.Misreport != "" || tc.can != "" {
				assert.Empty(t, p.GatewayTradeNo, "no foreign sn kept to cancel or refund")
			}
			b, err := json.Marshal(p)
			require.NoError(t, err)
			assert.NotContains(t, string(b), code, "the payment code never appears")
			f.client.WaitCheckin()
			raw, err := os.ReadFile(filepath.Join(f.dir, "posd.db"))
			require.NoError(t, err)
			assert.NotContains(t, string(raw), code, "nor in the journal file")
		})
	}
}
