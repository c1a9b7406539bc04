package yima_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tillworks/posd/internal/fakeclock"
	"github.com/tillworks/posd/paycode"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
	"github.com/tillworks/posd/providers/yima"
	"github.com/tillworks/posd/providers/yima/yimatest"
	"github.com/tillworks/posd/store"
)

const (
	isspid = "39493002"
	key    = "yima-test-key-0123456789"
	code   = "134567890123456789"
)

// fixture is the engine on a real journal and an injected clock with a
// Yima client in one format and sign scheme, against the fake gateway
// over loopback HTTP on the same clock.
type fixture struct {
	t      *testing.T
	clock  *fakeclock.Clock
	fake   *yimatest.Server
	client *yima.Client
	eng    *payflow.Engine
	st     *store.Store
}

type setup struct{ format, scheme string }

var setups = []setup{
	{yima.FormatJSON, yima.SchemeBodyKey},
	{yima.FormatJSON, yima.SchemeKeyBodyKey},
	{yima.FormatJSON, yima.SchemeSorted},
	{yima.FormatXML, yima.SchemeBodyKey},
}

func (s setup) String() string { return s.format + "/" + s.scheme }

func newFixture(t *testing.T, s setup) *fixture {
	t.Helper()
	start := time.Date(2026, 11, 21, 12, 0, 0, 0, time.FixedZone("CST", 8*3600))
	f := &fixture{t: t, clock: fakeclock.New(start), fake: yimatest.New(isspid, key, s.scheme)}
	f.fake.Now = f.clock.Now
	srv := httptest.NewServer(f.fake)
	t.Cleanup(srv.Close)
	var err error
	f.client, err = yima.New(yima.Options{BaseURL: srv.URL + "/ipos", Isspid: isspid, SystemID: "8888", StoreID: "store-1",
		PosID: "till-01", UserID: "user01", Key: key, Format: s.format, Scheme: s.scheme, VerifyAnswers: true})
	require.NoError(t, err)
	f.st, err = store.Open(filepath.Join(t.TempDir(), "posd.db"))
	require.NoError(t, err)
	f.eng = payflow.NewEngine(payflow.Config{TillID: "till-01", PollInterval: 5 * time.Second, PayTimeout: 45 * time.Second,
		CancelRetryInterval: 5 * time.Second, CancelAttempts: 3, ScanTimeout: time.Minute},
		f.st, payflow.One("yima", f.client), payflow.Options{Clock: f.clock, Classify: paycode.Classifier})
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

func (f *fixture) pay(order string, amount int64, plan yimatest.Plan) *payflow.Payment {
	f.t.Helper()
	f.fake.SetPlan(code, plan)
	p, _, err := f.eng.CreatePayment(payflow.NewPayment{OrderID: order, Amount: amount, AuthCode: code, Subject: "拿铁 Latte"})
	require.NoError(f.t, err)
	return p
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

// TestPayFlows drives Yima's branches through the real engine, in both
// formats and every sign scheme.
func TestPayFlows(t *testing.T) {
	for _, s := range setups {
		t.Run(s.String(), func(t *testing.T) {
			t.Run("paid at once", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.until(f.pay("A1", 1250, yimatest.Plan{}).ID, settled)
				assert.Equal(t, payflow.StatePaid, p.State, "%+v", p.History)
				assert.Equal(t, "wechat", p.Channel)
				o, _ := f.fake.Order(p.GatewayOrderNo)
				assert.Equal(t, o.TradeNo, p.ChannelTradeNo, "the trade number comes from the channel's block")
				assert.Equal(t, isspid+"/till-01", p.GatewayAccount)
				assert.Empty(t, p.Discounts)
				assert.Zero(t, f.fake.Bad())
				if s.format == yima.FormatXML {
					body, ctype := f.fake.LastRequest()
					assert.Contains(t, ctype, "GBK")
					assert.True(t, strings.HasPrefix(string(body), `<?xml version="1.0" encoding="GBK"?><business_trans>`))
				}
			})
			t.Run("9998, then paid", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.until(f.pay("A1", 1250, yimatest.Plan{Pay: "wait", PaidAfterQueries: 2}).ID, settled)
				assert.Equal(t, payflow.StatePaid, p.State, "%+v", p.History)
				assert.Equal(t, []string{"barcode_pay_request", "barcode_query_request", "barcode_query_request"}, f.fake.Ops())
			})
			t.Run("9998 until cancelled", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.until(f.pay("A1", 1250, yimatest.Plan{Pay: "wait"}).ID, settled)
				assert.Equal(t, payflow.StateCancelled, p.State, "%+v", p.History)
				o, _ := f.fake.Order(p.GatewayOrderNo)
				assert.Equal(t, yimatest.Cancelled, o.State)
				assert.Equal(t, 1, count(f.fake.Ops(), "barcode_cancel_request"))
			})
			t.Run("declined: the comment is the cashier's", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.until(f.pay("A1", 1250, yimatest.Plan{Pay: "fail"}).ID, settled)
				assert.Equal(t, payflow.StateFailed, p.State)
				assert.Equal(t, "0005", p.Error.Code)
				assert.Equal(t, "余额不足", p.Error.Message)
			})
			t.Run("9999 after the charge: in doubt, the query finds it paid", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.until(f.pay("A1", 1250, yimatest.Plan{Pay: "9999"}).ID, settled)
				assert.Equal(t, payflow.StatePaid, p.State, "%+v", p.History)
				assert.Equal(t, "barcode_query_request", f.fake.Ops()[1], "9999 is not taken as a refusal")
			})
			t.Run("answer lost after the charge: the query finds it paid", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.until(f.pay("A1", 1250, yimatest.Plan{Pay: "drop"}).ID, settled)
				assert.Equal(t, payflow.StatePaid, p.State)
			})
			t.Run("discounted: kept on the payment", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.until(f.pay("A1", 1250, yimatest.Plan{BussDiscount: 100, PlatformDiscount: 50}).ID, settled)
				require.Equal(t, payflow.StatePaid, p.State)
				assert.Equal(t, []payflow.Discount{{Name: "buss_discount_amt", Label: "商家优惠", Amount: 100}, {Name: "platform_discount_amt", Label: "平台优惠", Amount: 50}}, p.Discounts)
				assert.Equal(t, int64(1100), p.CustomerPaid)
				f2 := newFixture(t, s)
				p = f2.until(f2.pay("A2", 1250, yimatest.Plan{Pay: "wait", PaidAfterQueries: 1, BussDiscount: 100, CashFee: 1000}).ID, settled)
				assert.Equal(t, int64(1000), p.CustomerPaid, "the channel's cash_fee, found by the query")
			})
			t.Run("refund, partial then the rest; one answered 9998 is re-sent with its pos_seq", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.until(f.pay("A1", 1000, yimatest.Plan{}).ID, settled)
				f.fake.RefundsWait = 1
				_, _, _, err := f.eng.Refund(p.ID, payflow.NewRefund{RefundID: "R1", Amount: 400, Reason: "退货"})
				require.NoError(t, err)
				p = f.until(p.ID, settled)
				assert.Equal(t, payflow.RefundRefunded, p.Refund("R1").State, "%+v", p.Refund("R1").History)
				assert.Equal(t, 2, count(f.fake.Ops(), "barcode_refundbycashfee_request"))
				_, _, _, err = f.eng.Refund(p.ID, payflow.NewRefund{RefundID: "R2", Amount: 600})
				require.NoError(t, err)
				p = f.until(p.ID, settled)
				assert.Equal(t, int64(1000), p.RefundedAmount)
				o, _ := f.fake.Order(p.GatewayOrderNo)
				assert.Equal(t, int64(1000), o.Refunded, "each refund once at the gateway")
			})
			t.Run("cashier cancels within 24 h", func(t *testing.T) {
				f := newFixture(t, s)
				p := f.pay("A1", 1250, yimatest.Plan{Pay: "wait"})
				f.until(p.ID, func(p *payflow.Payment) bool { return p.State == payflow.StateInDoubt })
				_, err := f.eng.Abort(p.ID)
				require.NoError(t, err)
				p = f.until(p.ID, settled)
				assert.Equal(t, payflow.StateCancelled, p.State)
				o, _ := f.fake.Order(p.GatewayOrderNo)
				assert.Equal(t, yimatest.Cancelled, o.State)
			})
			t.Run("mini-program order paid in WeChat", func(t *testing.T) {
				f := newFixture(t, s)
				p, created, err := f.eng.CreateMiniProgramOrder(payflow.NewPayment{OrderID: "M1", Amount: 1000, Subject: "会员卡充值"},
					payflow.MiniProgram{BuyerID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", Memo: "订单备注",
						Goods: []payflow.Goods{{GoodsID: "apple-01", Name: "苹果", Quantity: 1, Price: 1000}},
						Split: &payflow.Split{Flag: "R", Info: &payflow.SplitInfo{KeepAmt: 800, SplitsList: []payflow.SplitReceiver{{MerchantID: "10000000000001", DivAmt: 150}, {MerchantID: "10000000000002", DivAmt: 50}}}},
					}, 2*time.Minute)
				require.NoError(t, err)
				assert.True(t, created)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				p, err = f.eng.AwaitOrder(ctx, p.ID)
				require.NoError(t, err)
				require.NotNil(t, p.MiniProgram.Pay, "%+v", p.History)
				assert.Equal(t, payflow.StateInDoubt, p.State)
				assert.True(t, strings.HasPrefix(p.MiniProgram.Pay.Package, "prepay_id=wx"))
				assert.Equal(t, "MD5", p.MiniProgram.Pay.SignType)
				o, _ := f.fake.Order(p.GatewayOrderNo)
				assert.Equal(t, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", o.BuyerID)
				var ext map[string]any
				require.NoError(t, json.Unmarshal([]byte(o.Extend), &ext), o.Extend)
				assert.Equal(t, "R", ext["split_flag"])
				assert.Equal(t, "800", ext["split_info"].(map[string]any)["keep_amt"])
				assert.Contains(t, o.Goods, `"goods_name":"苹果"`)
				if s.format == yima.FormatXML {
					body := f.fake.Request("unifiedorder_request")
					assert.False(t, utf8.Valid(body), "Chinese goes out in GBK")
					text, err := simplifiedchinese.GBK.NewDecoder().Bytes(body)
					require.NoError(t, err)
					assert.Contains(t, string(text), "<memo>订单备注</memo>")
					assert.Contains(t, string(text), "<goods_detail><![CDATA[")
				}
				f.clock.Advance(20 * time.Second)
				require.NoError(t, f.fake.CustomerPays(p.GatewayOrderNo))
				p = f.until(p.ID, settled)
				assert.Equal(t, payflow.StatePaid, p.State)
			})
			t.Run("mini-program order unpaid: cancelled when it expires, and WeChat then refuses the customer", func(t *testing.T) {
				f := newFixture(t, s)
				p, _, err := f.eng.CreateMiniProgramOrder(payflow.NewPayment{OrderID: "M1", Amount: 1000}, payflow.MiniProgram{BuyerID: "openid-1"}, time.Minute)
				require.NoError(t, err)
				p = f.until(p.ID, settled)
				assert.Equal(t, payflow.StateCancelled, p.State, "%+v", p.History)
				assert.False(t, p.UpdatedAt.Before(p.MiniProgram.ExpiresAt), "not cancelled before it expired")
				assert.Error(t, f.fake.CustomerPays(p.GatewayOrderNo))
			})
		})
	}
}

// TestClientAnswers covers answers the engine does not meet in one
// payment: a sign that does not verify, an unsigned answer, an answer
// about another request, a cancel after 24 hours, a cancel re-sent with
// its pos_seq, a refund number reused with another amount.
func TestClientAnswers(t *testing.T) {
	ctx := context.Background()
	pay := payflow.PayRequest{OrderNo: "26112100000100000001123456", OrderID: "X1", Amount: 500, AuthCode: code, TillID: "till-01"}
	ref := payflow.OrderRef{OrderNo: pay.OrderNo, Amount: 500}
	t.Run("wrong sign: in doubt, never taken", func(t *testing.T) {
		f := newFixture(t, setups[0])
		f.fake.WrongSign = true
		_, err := f.client.Pay(ctx, pay)
		var ge *providers.GatewayError
		require.ErrorAs(t, err, &ge)
		assert.Equal(t, "BAD_SIGN", ge.Code)
		assert.NotErrorIs(t, err, payflow.ErrNotSent)
	})
	t.Run("unsigned: a refusal is read, a success is not", func(t *testing.T) {
		f := newFixture(t, setups[0])
		f.fake.Unsigned = true
		f.fake.SetPlan(code, yimatest.Plan{Pay: "fail"})
		o, err := f.client.Pay(ctx, pay)
		require.NoError(t, err)
		assert.Equal(t, payflow.Failed, o.Kind)
		o, err = f.client.Query(ctx, ref)
		require.NoError(t, err)
		assert.Equal(t, payflow.Unknown, o.Kind, "an unsigned 'failed' query decides nothing either")
		f.fake.SetPlan(code, yimatest.Plan{})
		pay2 := pay
		pay2.OrderNo = "26112100000100000002123456"
		o, err = f.client.Pay(ctx, pay2)
		require.NoError(t, err)
		assert.Equal(t, payflow.Unknown, o.Kind)
		assert.Contains(t, o.Message, "not signed")
	})
	t.Run("about another request", func(t *testing.T) {
		f := newFixture(t, setups[3])
		f.fake.SetPlan(code, yimatest.Plan{})
		_, err := f.client.Pay(ctx, pay)
		require.NoError(t, err)
		f.fake.EchoOther = true
		o, err := f.client.Pay(ctx, payflow.PayRequest{OrderNo: "26112100000100000003123456", Amount: 500, AuthCode: code})
		require.NoError(t, err)
		assert.Equal(t, "99999999999999", o.OrderNo, "the engine holds the echoed number against the order")
		o, err = f.client.Query(ctx, ref)
		require.NoError(t, err)
		assert.Equal(t, payflow.Unknown, o.Kind)
		assert.Contains(t, o.Message, "about request 99999999999999")
		o, err = f.client.Refund(ctx, payflow.RefundRequest{OrderNo: pay.OrderNo, RequestNo: "26112100000112345678", Amount: 100})
		require.NoError(t, err)
		assert.Equal(t, payflow.Unknown, o.Kind)
	})
	t.Run("cancel: after 24 h refused; in doubt re-sent with the same pos_seq", func(t *testing.T) {
		f := newFixture(t, setups[0])
		f.fake.SetPlan(code, yimatest.Plan{})
		_, err := f.client.Pay(ctx, pay)
		require.NoError(t, err)
		f.fake.CancelResult = "9999"
		o, err := f.client.Cancel(ctx, ref)
		require.NoError(t, err)
		assert.Equal(t, payflow.Unknown, o.Kind)
		first := f.fake.Request("barcode_cancel_request")
		f.fake.CancelResult = ""
		f.clock.Advance(25 * time.Hour)
		o, err = f.client.Cancel(ctx, ref)
		require.NoError(t, err)
		second := f.fake.Request("barcode_cancel_request")
		assert.Equal(t, seqOf(t, first), seqOf(t, second), "the same pos_seq after an unknown answer")
		assert.Equal(t, payflow.Failed, o.Kind)
		assert.Equal(t, "超过撤销期限,请退款", o.Message)
		_, err = f.client.Cancel(ctx, ref)
		require.NoError(t, err)
		third := f.fake.Request("barcode_cancel_request")
		assert.NotEqual(t, seqOf(t, second), seqOf(t, third), "a new pos_seq after a final answer")
	})
	t.Run("no such order", func(t *testing.T) {
		f := newFixture(t, setups[3])
		o, err := f.client.Query(ctx, ref)
		require.NoError(t, err)
		assert.Equal(t, payflow.NotFound, o.Kind, "ORDERNOTEXIST in the channel's detail")
		o, err = f.client.Cancel(ctx, ref)
		require.NoError(t, err)
		assert.Equal(t, payflow.NotFound, o.Kind)
	})
	t.Run("a refund number reused for another amount is refused", func(t *testing.T) {
		f := newFixture(t, setups[0])
		f.fake.SetPlan(code, yimatest.Plan{})
		_, err := f.client.Pay(ctx, pay)
		require.NoError(t, err)
		r := payflow.RefundRequest{OrderNo: pay.OrderNo, RequestNo: "26112100000112345678", Amount: 100}
		o, err := f.client.Refund(ctx, r)
		require.NoError(t, err)
		assert.Equal(t, payflow.Succeeded, o.Kind)
		o, err = f.client.Refund(ctx, r)
		require.NoError(t, err)
		assert.Equal(t, payflow.Succeeded, o.Kind, "the same refund re-sent answers as before")
		r.Amount = 200
		o, err = f.client.Refund(ctx, r)
		require.NoError(t, err)
		assert.Equal(t, payflow.Failed, o.Kind)
		ord, _ := f.fake.Order(pay.OrderNo)
		assert.Equal(t, int64(100), ord.Refunded)
	})
}

func seqOf(t *testing.T, body []byte) string {
	var v map[string]any
	require.NoError(t, json.Unmarshal(body, &v))
	return v["pos_seq"].(string)
}

// TestCannedAnswers holds the client to answers no simulation produces:
// each is what a gateway (or something in its place) might send.
func TestCannedAnswers(t *testing.T) {
	gbk := func(s string) string {
		b, err := simplifiedchinese.GBK.NewEncoder().String(s)
		require.NoError(t, err)
		return b
	}
	const okXML = `<?xml version="1.0" encoding="GBK"?><business_trans><response_type>barcode_pay_response</response_type><isspid>39493002</isspid><pos_seq>26112100000100000001123456</pos_seq><pay_type>503</pay_type><result><id>0000</id><comment>成功</comment></result></business_trans>`
	for _, tc := range []struct {
		name, format, body string
		status             int
		kind               payflow.Kind
		errCode, says      string
	}{
		{"paid, GBK XML", "xml", gbk(okXML), 200, payflow.Succeeded, "", ""},
		{"declared GBK, sent as UTF-8", "xml", strings.Replace(okXML, "成功", "余额不足", 1), 200, 0, "BAD_RESPONSE", "is not valid GBK"},
		{"another merchant", "xml", gbk(strings.Replace(okXML, "39493002", "00026713", 1)), 200, 0, "WRONG_MERCHANT", "merchant 00026713"},
		{"another request type", "xml", gbk(strings.Replace(okXML, "barcode_pay_response", "barcode_refundbycashfee_response", 1)), 200, 0, "BAD_RESPONSE", "barcode_refundbycashfee_response"},
		{"about another order", "xml", gbk(strings.Replace(okXML, "26112100000100000001123456", "26112100000100000009999999", 1)), 200, payflow.Succeeded, "", "26112100000100000009999999"},
		{"a refusal without the envelope", "json", `{"result":{"id":"9001","comment":"签名错误"}}`, 200, payflow.Failed, "", "签名错误"},
		{"a success without the envelope", "json", `{"result":{"id":"0000","comment":"成功"}}`, 200, 0, "BAD_RESPONSE", "type \"\""},
		{"an XML answer to a JSON request cannot confirm", "json", gbk(okXML), 200, payflow.Unknown, "", "not signed"},
		{"no result id", "xml", gbk(strings.Replace(okXML, "<id>0000</id>", "", 1)), 200, 0, "BAD_RESPONSE", "without result.id"},
		{"a node twice", "xml", gbk(strings.Replace(okXML, "<pay_type>503</pay_type>", "<pay_type>503</pay_type><pay_type>502</pay_type>", 1)), 200, 0, "BAD_RESPONSE", "appears twice"},
		{"a key twice", "json", `{"response_type":"barcode_pay_response","result":{"id":"0005"},"result":{"id":"0000"}}`, 200, 0, "BAD_RESPONSE", "ambiguous"},
		{"HTTP 502", "xml", "<html>bad gateway</html>", 502, 0, "HTTP_STATUS", "502"},
		{"empty", "json", "", 200, 0, "BAD_RESPONSE", ""},
		{"9999", "xml", gbk(strings.Replace(okXML, "<id>0000</id>", "<id>9999</id>", 1)), 200, payflow.Unknown, "", ""},
		{"total not an amount", "xml", gbk(strings.Replace(okXML, "<result>", "<wxpay_res_info><total_fee>12.50</total_fee></wxpay_res_info><result>", 1)), 200, payflow.Unknown, "", "not an amount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := yima.New(yima.Options{BaseURL: srv.URL, Isspid: isspid, SystemID: "8888", StoreID: "s1", PosID: "p1", Key: key,
				Format: tc.format, VerifyAnswers: true})
			require.NoError(t, err)
			o, err := c.Pay(context.Background(), payflow.PayRequest{OrderNo: "26112100000100000001123456", Amount: 1250, AuthCode: code})
			if tc.errCode != "" {
				var ge *providers.GatewayError
				require.ErrorAs(t, err, &ge)
				assert.Equal(t, tc.errCode, ge.Code)
				assert.Contains(t, ge.Error(), tc.says)
				assert.NotErrorIs(t, err, payflow.ErrNotSent, "sent: in doubt")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.kind, o.Kind, "%+v", o)
			assert.Contains(t, o.Message+o.OrderNo, tc.says)
		})
	}
}
