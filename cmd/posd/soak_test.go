package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers/demo"
)

// chaos stands between posd and the demo gateway and misbehaves the way
// networks and gateways do: it delays answers, loses requests before the
// gateway sees them, loses answers after it acted, delivers a request
// twice, and answers about another order, for another amount, or in
// ambiguous JSON. It never tells a lie that names the right order and
// amount: nobody could catch that one.
type chaos struct {
	gw  *demo.Gateway
	on  atomic.Bool
	mu  sync.Mutex
	rng *rand.Rand
	// dup counts the requests delivered twice, by order number.
	dup   map[string]int
	stats map[string]int
}

func (c *chaos) roll() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64()
}

func (c *chaos) count(what, orderNo string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats[what]++
	if what == "duplicate" {
		c.dup[orderNo]++
	}
}

func hangUp(w http.ResponseWriter) {
	if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
		c.Close()
	}
}

func (c *chaos) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !c.on.Load() || r.Method != http.MethodPost {
		r.Body = io.NopCloser(bytes.NewReader(body))
		c.gw.ServeHTTP(w, r)
		return
	}
	var req struct {
		OrderNo string `json:"order_no"`
	}
	json.Unmarshal(body, &req)
	forward := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		fr := r.Clone(r.Context())
		fr.Body = io.NopCloser(bytes.NewReader(body))
		c.gw.ServeHTTP(rec, fr)
		return rec
	}
	if x := c.roll(); x < 0.04 {
		c.count("lost before the gateway", req.OrderNo)
		hangUp(w)
		return
	} else if x < 0.15 {
		c.count("delayed", req.OrderNo)
		time.Sleep(time.Duration(c.roll() * float64(300*time.Millisecond)))
	}
	if c.roll() < 0.03 {
		c.count("duplicate", req.OrderNo)
		forward()
	}
	rec := forward()
	answer := rec.Body.Bytes()
	switch x := c.roll(); {
	case x < 0.05:
		c.count("answer lost", req.OrderNo)
		hangUp(w)
		return
	case x < 0.08, x < 0.11:
		var m map[string]any
		if json.Unmarshal(answer, &m) == nil {
			if o, ok := m["order"].(map[string]any); ok {
				if x < 0.08 {
					c.count("about another order", req.OrderNo)
					o["order_no"] = fmt.Sprintf("%026d", uint64(c.roll()*1e18))
					o["trade_no"] = "DFOREIGN"
				} else {
					c.count("wrong amount", req.OrderNo)
					o["amount"] = 1
				}
				o["status"] = demo.StatusPaid
				m["result"], m["code"] = "SUCCESS", "PAY_SUCCESS"
				answer, _ = json.Marshal(m)
			}
		}
	case x < 0.13:
		c.count("ambiguous JSON", req.OrderNo)
		answer = append([]byte(`{"result":"SUCCESS",`), bytes.TrimPrefix(bytes.TrimSpace(answer), []byte("{"))...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rec.Code)
	w.Write(answer)
}

// TestSoak drives hundreds of payments, aborts and refunds through posd
// against a chaotic gateway while killing posd with SIGKILL at random,
// then reconciles posd with the gateway's ledger: nothing charged that
// posd calls unpaid (unless it asks for a person), nothing posd calls paid
// that was not charged, no refund of another order, nothing left open.
// POSD_SOAK_PAYMENTS and POSD_SOAK_SEED scale and replay it.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon for a minute or two")
	}
	n := 240
	if v, err := strconv.Atoi(os.Getenv("POSD_SOAK_PAYMENTS")); err == nil && v > 0 {
		n = v
	}
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("POSD_SOAK_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("soak: %d payments, POSD_SOAK_SEED=%d", n, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var rngMu sync.Mutex
	roll := func() float64 { rngMu.Lock(); defer rngMu.Unlock(); return rng.Float64() }
	intn := func(k int) int { rngMu.Lock(); defer rngMu.Unlock(); return rng.IntN(k) }

	gw, err := demo.NewGateway("", 30*time.Millisecond)
	require.NoError(t, err)
	ch := &chaos{gw: gw, rng: rand.New(rand.NewPCG(seed+1, seed)), dup: map[string]int{}, stats: map[string]int{}}
	ch.on.Store(true)
	srv := httptest.NewServer(ch)
	t.Cleanup(srv.Close)
	e := newCrashEnvWith(t, fmt.Sprintf("[provider.demo]\ngateway_url = %q\n", srv.URL))
	e.addConfig("[store]\nretention_days = 30\n")

	var (
		dmu   sync.Mutex
		d     = e.start("")
		kills int
	)
	current := func() *posdProc { dmu.Lock(); defer dmu.Unlock(); return d }
	// call retries while posd is down (killed, restarting): every request
	// is idempotent by order id or refund id.
	call := func(method, path string, body, out any) int {
		for range 400 {
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(method, e.api+path, rd)
			req.Header.Set("Authorization", "Bearer "+crashToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if out != nil && resp.StatusCode < 300 {
				if json.Unmarshal(b, out) != nil {
					time.Sleep(50 * time.Millisecond) // cut short by a kill
					continue
				}
			}
			return resp.StatusCode
		}
		t.Errorf("%s %s never answered", method, path)
		return 0
	}

	// The killer: SIGKILL at random moments until the cashiers are done.
	done := make(chan struct{})
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Duration(300+intn(1500)) * time.Millisecond):
			}
			dmu.Lock()
			d.kill()
			kills++
			d = e.start("")
			dmu.Unlock()
		}
	}()

	// Scenario codes: plain (paid), and the demo's awkward branches.
	codes := []string{"134567890123456789", "284567890123456789", "134567890123456789", "284567890123456789",
		"134567890123450001", "134567890123450002", "134567890123450003", "134567890123450004",
		"134567890123450006", "134567890123450008", "134567890123450009", "134567890123450010", "134567890123450011"}
	orders := make([]string, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 { // four tills' worth of cashiers on one daemon
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				order := fmt.Sprintf("soak-%04d", i)
				orders[i] = order
				amount := 1 + intn(99999)
				var p payflow.Payment
				st := call("POST", "/v1/payments", map[string]any{"order_id": order, "amount": amount, "auth_code": codes[intn(len(codes))]}, &p)
				if st != 201 && st != 200 {
					t.Errorf("order %s: create answered %d", order, st)
					continue
				}
				if roll() < 0.1 {
					call("POST", "/v1/payments/"+p.ID+"/cancel", nil, nil) // the cashier changes their mind
				}
				for p.Live() || p.State == payflow.StateAwaitingScan {
					call("GET", "/v1/payments/"+p.ID+"?wait=5", nil, &p)
				}
				for k := 1; p.State == payflow.StatePaid && k <= 2 && roll() < 0.5; k++ {
					left := p.Refundable()
					if left < 1 {
						break
					}
					amt := 1 + int64(intn(int(left)))
					var rr struct {
						Payment payflow.Payment `json:"payment"`
					}
					if st := call("POST", "/v1/payments/"+p.ID+"/refunds", map[string]any{"refund_id": fmt.Sprintf("R%d", k), "amount": amt}, &rr); st >= 300 {
						t.Errorf("order %s: refund of %d (%d left) answered %d", order, amt, left, st)
					} else {
						p = rr.Payment
					}
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(done)
	<-killed

	// Calm: the gateway behaves, posd restarts once more and settles all.
	ch.on.Store(false)
	d = current()
	d.kill()
	d = e.start("")
	byOrder := map[string]*payflow.Payment{}
	deadline := time.Now().Add(90 * time.Second)
	for _, order := range orders {
		for {
			var p payflow.Payment
			require.Equal(t, 200, d.request("GET", "/v1/payments?order_id="+order+"&wait=5", nil, &p))
			if !p.Live() {
				byOrder[order] = &p
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %s still %s: stuck\n%+v", order, p.State, p.History)
			}
		}
	}

	// Reconcile with the gateway's ledger.
	states := map[payflow.State]int{}
	attention := map[string]int{} // why, for those that need a person
	byNo := map[string]*payflow.Payment{}
	for _, p := range byOrder {
		states[p.State]++
		if p.State == payflow.StateNeedsAttention && p.Error != nil {
			attention[p.Error.Code]++
		}
		for _, r := range p.Refunds {
			if r.State == payflow.RefundNeedsAttention && r.Error != nil {
				attention["refund "+r.Error.Code]++
			}
		}
		byNo[p.GatewayOrderNo] = p
		o, exists := gw.Order(p.GatewayOrderNo)
		switch p.State {
		case payflow.StatePaid:
			if assert.True(t, exists, "%s: posd says paid, the gateway has no order", p.OrderID) {
				assert.Equal(t, demo.StatusPaid, o.Status, "%s: posd says paid", p.OrderID)
				assert.Equal(t, p.Amount, o.Amount, "%s: amount", p.OrderID)
			}
		case payflow.StateFailed, payflow.StateCancelled:
			if exists {
				assert.NotEqual(t, demo.StatusPaid, o.Status, "%s: posd says %s, the gateway charged\n%+v", p.OrderID, p.State, p.History)
			}
		case payflow.StateNeedsAttention:
			assert.NotNil(t, p.Error, "%s: needs attention without a reason", p.OrderID)
		default:
			t.Errorf("%s ended %s", p.OrderID, p.State)
		}
		// Refunds: posd's refunded ones are at the gateway with their
		// amount, its failed ones are not, and the gateway has no refund
		// of this order that posd did not ask for.
		asked := map[string]*payflow.Refund{}
		var attention int64
		for _, r := range p.Refunds {
			asked[r.RequestNo] = r
			got, at := o.Refunds[r.RequestNo]
			switch r.State {
			case payflow.RefundRefunded:
				assert.True(t, at && got == r.Amount, "%s: refund %s refunded in posd, %d at the gateway", p.OrderID, r.ID, got)
			case payflow.RefundFailed:
				assert.False(t, at, "%s: refund %s failed in posd, done at the gateway", p.OrderID, r.ID)
			case payflow.RefundNeedsAttention:
				if at {
					attention += got
				}
			default:
				t.Errorf("%s: refund %s ended %s", p.OrderID, r.ID, r.State)
			}
		}
		for no := range o.Refunds {
			assert.Contains(t, asked, no, "%s: the gateway refunded %s, which posd never asked for", p.OrderID, no)
		}
		if exists {
			assert.Equal(t, p.RefundedAmount+attention, o.Refunded, "%s: refunded amounts", p.OrderID)
		}
	}
	for _, o := range gw.Orders() {
		p := byNo[o.OrderNo]
		if !assert.NotNil(t, p, "the gateway has order %s (%s) that posd does not", o.OrderNo, o.MerchantOrder) {
			continue
		}
		assert.Equal(t, p.OrderID, o.MerchantOrder)
		if o.Status == demo.StatusPaid {
			assert.Contains(t, []payflow.State{payflow.StatePaid, payflow.StateNeedsAttention}, p.State,
				"%s: charged at the gateway, %s in posd\n%+v", p.OrderID, p.State, p.History)
		}
		ch.mu.Lock()
		dups := ch.dup[o.OrderNo]
		ch.mu.Unlock()
		assert.LessOrEqual(t, o.PayCalls, 1+dups, "%s: pay sent %d times", p.OrderID, o.PayCalls)
	}
	t.Logf("soak: %d kills; posd: %v; needing attention: %v; chaos: %v", kills, states, attention, ch.stats)
}
