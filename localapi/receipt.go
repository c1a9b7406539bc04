package localapi

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"net/http"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
)

// JobResponse answers a print request.
type JobResponse struct {
	Job string `json:"job"`
}

// receiptTarget finds the payment and, with ?refund_id= (or a body's
// refund_id), the refund whose receipt is meant.
func (s *Server) receiptTarget(w http.ResponseWriter, r *http.Request, refundID string) (*payflow.Payment, *payflow.Refund, bool) {
	if s.opt.Printer == nil {
		writeError(w, http.StatusServiceUnavailable, "no_printer", "receipts are not configured in this daemon")
		return nil, nil, false
	}
	p, err := s.eng.Get(r.PathValue("id"))
	if err != nil {
		s.engineError(w, err)
		return nil, nil, false
	}
	if refundID != "" {
		ref := p.Refund(refundID)
		if ref == nil {
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("payment %s has no refund %s", p.ID, refundID))
			return nil, nil, false
		}
		if ref.State != payflow.RefundRefunded {
			writeError(w, http.StatusConflict, "no_receipt", fmt.Sprintf("refund %s is %s: only a refunded refund has a receipt", refundID, ref.State))
			return nil, nil, false
		}
		return p, ref, true
	}
	if p.State != payflow.StatePaid {
		writeError(w, http.StatusConflict, "no_receipt", fmt.Sprintf("payment %s is %s: only a paid payment has a receipt", p.ID, p.State))
		return nil, nil, false
	}
	return p, nil, true
}

// reprint queues a copy of a receipt, marked 重印.
func (s *Server) reprint(w http.ResponseWriter, r *http.Request) {
	var body struct {
		RefundID string `json:"refund_id"`
	}
	if err := emptyOr(r, &body); err != nil {
		s.badRequest(w, err)
		return
	}
	p, ref, ok := s.receiptTarget(w, r, body.RefundID)
	if !ok {
		return
	}
	id, err := s.opt.Printer.Reprint(p, ref)
	if err != nil {
		s.engineError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, JobResponse{Job: id})
}

// getReceipt shows a receipt: ?format=text (default), png or escpos. All
// three come from the bytes the printer is sent (text and png with the
// logo the printer keeps, when it keeps one).
func (s *Server) getReceipt(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, ref, ok := s.receiptTarget(w, r, q.Get("refund_id"))
	if !ok {
		return
	}
	l := s.opt.Printer.Layout
	data, err := l.Receipt(p, ref, false)
	if err != nil {
		s.engineError(w, err)
		return
	}
	switch q.Get("format") {
	case "escpos":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
		return
	case "", "text", "png":
	default:
		s.badRequest(w, errors.New("format must be text, png or escpos"))
		return
	}
	// A logo kept in the printer is printed by reference: the preview
	// reads its definition first, as the printer holds it.
	def, err := l.LogoDefinition()
	if err != nil {
		s.engineError(w, err)
		return
	}
	doc, err := printer.Interpret(append(def, data...))
	if err != nil {
		s.engineError(w, err)
		return
	}
	if q.Get("format") == "png" {
		font, err := printer.LoadFont()
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "no_font", err.Error())
			return
		}
		var buf bytes.Buffer
		png.Encode(&buf, doc.PNG(font, l.Paper.Dots))
		w.Header().Set("Content-Type", "image/png")
		w.Write(buf.Bytes())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(doc.Text(l.Paper.Columns)))
}

func (s *Server) testPage(w http.ResponseWriter, r *http.Request) {
	if s.opt.Printer == nil {
		writeError(w, http.StatusServiceUnavailable, "no_printer", "receipts are not configured in this daemon")
		return
	}
	if err := emptyBody(r); err != nil {
		s.badRequest(w, err)
		return
	}
	id, err := s.opt.Printer.TestPage()
	if err != nil {
		s.engineError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, JobResponse{Job: id})
}
