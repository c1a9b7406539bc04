package localapi

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/tillworks/posd/payflow"
)

// Totals is a count of payments (or refunds) and their sum in fen.
type Totals struct {
	Count  int   `json:"count"`
	Amount int64 `json:"amount"`
}

// ReportRow totals the payments of one channel, paid one way, in one
// state.
type ReportRow struct {
	Channel string `json:"channel"`
	// Method is how the customer paid: code (a payment code scanned),
	// qr (the till's QR code), miniprogram.
	Method string        `json:"method"`
	State  payflow.State `json:"state"`
	Totals
}

// reportMethod names a payment's method in the report.
func reportMethod(p *payflow.Payment) string {
	if p.Method == "" {
		return "code"
	}
	return p.Method
}

// DailyReport is the day's settlement (日结) for this till: the payments
// created that day by channel and state, the refunds made that day by
// channel and state (whatever day their payment was), what was collected,
// what was refunded, and what is still open.
type DailyReport struct {
	Date           string      `json:"date"`
	TillID         string      `json:"till_id"`
	Currency       string      `json:"currency"`
	Rows           []ReportRow `json:"rows"`
	RefundRows     []ReportRow `json:"refund_rows"`
	Paid           Totals      `json:"paid"`
	Refunded       Totals      `json:"refunded"`
	Net            int64       `json:"net"` // paid less refunded, fen
	Open           int         `json:"open"`
	RefundsOpen    int         `json:"refunds_open"`
	NeedsAttention int         `json:"needs_attention"`
	GeneratedAt    time.Time   `json:"generated_at"`
}

// BuildReport totals a day: ps are the payments created on it, refunded
// the payments with refunds made on it.
func BuildReport(day, tillID string, ps, refunded []*payflow.Payment, now time.Time) DailyReport {
	rep := DailyReport{Date: day, TillID: tillID, Currency: "CNY", GeneratedAt: now}
	rows := rowCounter{}
	for _, p := range ps {
		rows.add(p.Channel, reportMethod(p), p.State, p.Amount)
		switch {
		case p.State == payflow.StatePaid:
			rep.Paid.Count++
			rep.Paid.Amount += p.Amount
		case p.State == payflow.StateNeedsAttention:
			rep.NeedsAttention++
		case !p.State.Terminal():
			rep.Open++
		}
	}
	refunds := rowCounter{}
	for _, p := range refunded {
		for _, r := range p.Refunds {
			if r.CreatedAt.Format(time.DateOnly) != day {
				continue
			}
			refunds.add(p.Channel, reportMethod(p), payflow.State(r.State), r.Amount)
			switch {
			case r.State == payflow.RefundRefunded:
				rep.Refunded.Count++
				rep.Refunded.Amount += r.Amount
			case r.State == payflow.RefundNeedsAttention:
				rep.NeedsAttention++
			case !r.State.Terminal():
				rep.RefundsOpen++
			}
		}
	}
	rep.Rows, rep.RefundRows = rows.sorted(), refunds.sorted()
	rep.Net = rep.Paid.Amount - rep.Refunded.Amount
	return rep
}

// rowCounter totals amounts by channel, method and state.
type rowCounter map[[3]string]*ReportRow

func (rc rowCounter) add(channel, method string, state payflow.State, amount int64) {
	k := [3]string{channel, method, string(state)}
	row := rc[k]
	if row == nil {
		row = &ReportRow{Channel: channel, Method: method, State: state}
		rc[k] = row
	}
	row.Count++
	row.Amount += amount
}

func (rc rowCounter) sorted() []ReportRow {
	out := make([]ReportRow, 0, len(rc))
	for _, r := range rc {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Channel != out[j].Channel {
			return out[i].Channel < out[j].Channel
		}
		if out[i].Method != out[j].Method {
			return out[i].Method < out[j].Method
		}
		return out[i].State < out[j].State
	})
	return out
}

func (s *Server) dailyReport(w http.ResponseWriter, r *http.Request) {
	day := r.URL.Query().Get("date")
	if day == "" {
		day = s.opt.Now().Format(time.DateOnly)
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		s.badRequest(w, fmt.Errorf("date must be YYYY-MM-DD, got %q", day))
		return
	}
	ps, err := s.eng.Day(day)
	if err != nil {
		s.engineError(w, err)
		return
	}
	refunded, err := s.eng.RefundDay(day)
	if err != nil {
		s.engineError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, BuildReport(day, s.opt.TillID, ps, refunded, s.opt.Now()))
}
