package localapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"rsc.io/qr"

	"github.com/tillworks/posd/payflow"
)

// qrImage answers GET /v1/payments/{id}/qr.png: a QR payment's code drawn
// as a PNG, for a customer display that shows images only. ?size= is the
// pixels per module.
func (s *Server) qrImage(w http.ResponseWriter, r *http.Request) {
	size := 8
	if v := r.URL.Query().Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			s.badRequest(w, fmt.Errorf("size must be a whole number of pixels per module from 1 to 20, got %q", v))
			return
		}
		size = n
	}
	p, err := s.eng.Get(r.PathValue("id"))
	if err != nil {
		s.engineError(w, err)
		return
	}
	if p.Method != payflow.MethodQR || p.QR == nil || p.QR.Code == "" || p.State != payflow.StateAwaitingCustomer {
		what := "it is not a QR payment"
		if p.Method == payflow.MethodQR {
			what = fmt.Sprintf("it is %s", p.State)
		}
		writeError(w, http.StatusNotFound, "no_qr_code", fmt.Sprintf("payment %s has no QR code to show: %s (a code is shown only while the payment is awaiting_customer)", p.ID, what))
		return
	}
	c, err := qr.Encode(p.QR.Code, qr.M)
	if err != nil {
		s.log.Error("QR code not drawn", "payment", p.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "no_qr_code", errors.New("the gateway's code is too long to draw as a QR code: show the qr_code text instead").Error())
		return
	}
	c.Scale = size
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(c.PNG())
}
