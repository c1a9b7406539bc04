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

// ReportRow totals the payments of one channel in one state.
type ReportRow struct {
	Channel string        `json:"channel"`
	State   payflow.State `json:"state"`
	Totals
}

// DailyReport is the day's settlement (日结) for this till: every payment
// created that day by channel and state, what was collected, what was
// refunded of it, and what is still open.
type DailyReport struct {
	Date           string      `json:"date"`
	TillID         string      `json:"till_id"`
	Currency       string      `json:"currency"`
	Rows           []ReportRow `json:"rows"`
	Paid           Totals      `json:"paid"`
	Refunded       Totals      `json:"refunded"`
	Net            int64       `json:"net"` // paid less refunded, fen
	Open           int         `json:"open"`
	NeedsAttention int         `json:"needs_attention"`
	GeneratedAt    time.Time   `json:"generated_at"`
}

// BuildReport totals payments (all created on one day) into a report.
// Refunds are counted with the payment they belong to.
func BuildReport(day, tillID string, ps []*payflow.Payment, now time.Time) DailyReport {
	rep := DailyReport{Date: day, TillID: tillID, Currency: "CNY", Rows: []ReportRow{}, GeneratedAt: now}
	rows := map[[2]string]*ReportRow{}
	for _, p := range ps {
		k := [2]string{p.Channel, string(p.State)}
		row := rows[k]
		if row == nil {
			row = &ReportRow{Channel: p.Channel, State: p.State}
			rows[k] = row
		}
		row.Count++
		row.Amount += p.Amount
		switch {
		case p.State == payflow.StatePaid:
			rep.Paid.Count++
			rep.Paid.Amount += p.Amount
		case p.State == payflow.StateNeedsAttention:
			rep.NeedsAttention++
		case !p.State.Terminal():
			rep.Open++
		}
		for _, r := range p.Refunds {
			if r.State == payflow.RefundRefunded {
				rep.Refunded.Count++
				rep.Refunded.Amount += r.Amount
			}
		}
	}
	for _, r := range rows {
		rep.Rows = append(rep.Rows, *r)
	}
	sort.Slice(rep.Rows, func(i, j int) bool {
		a, b := rep.Rows[i], rep.Rows[j]
		if a.Channel != b.Channel {
			return a.Channel < b.Channel
		}
		return a.State < b.State
	})
	rep.Net = rep.Paid.Amount - rep.Refunded.Amount
	return rep
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
	writeJSON(w, http.StatusOK, BuildReport(day, s.opt.TillID, ps, s.opt.Now()))
}
