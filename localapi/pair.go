package localapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Pairing lets a kiosk's UI get the token without anyone typing it: an
// operator who has the token asks for a code (posd pair), and the UI
// trades that code, once, for the token at POST /v1/pair. A code lives
// pairTTL and dies after maxPairFailures wrong tries, so a page guessing
// has five tries at a million codes and then needs the operator again.
const (
	pairTTL         = 5 * time.Minute
	maxPairFailures = 5
)

type pairing struct {
	mu       sync.Mutex
	code     string
	expires  time.Time
	failures int
}

// PairCode is the answer of POST /v1/pair/code.
type PairCode struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PairRequest is the body of POST /v1/pair.
type PairRequest struct {
	Code string `json:"code"`
}

// PairResult is the answer of POST /v1/pair: the API token.
type PairResult struct {
	Token string `json:"token"`
}

func (s *Server) newPairCode(w http.ResponseWriter, r *http.Request) {
	if err := emptyBody(r); err != nil {
		s.badRequest(w, err)
		return
	}
	var b [8]byte
	rand.Read(b[:])
	code := fmt.Sprintf("%06d", binary.BigEndian.Uint64(b[:])%1000000)
	s.pair.mu.Lock()
	s.pair.code, s.pair.expires, s.pair.failures = code, s.opt.Now().Add(pairTTL), 0
	exp := s.pair.expires
	s.pair.mu.Unlock()
	s.log.Info("pairing code issued", "expires_at", exp)
	writeJSON(w, http.StatusCreated, PairCode{Code: code, ExpiresAt: exp})
}

func (s *Server) pairWith(w http.ResponseWriter, r *http.Request) {
	var req PairRequest
	if err := decode(r.Body, &req); err != nil {
		s.badRequest(w, err)
		return
	}
	s.pair.mu.Lock()
	defer s.pair.mu.Unlock()
	switch {
	case s.pair.code == "" || !s.opt.Now().Before(s.pair.expires):
		s.pair.code = ""
		writeError(w, http.StatusForbidden, "pairing_closed", "no pairing code is open: ask the operator to run 'posd pair' and enter the code it shows within 5 minutes")
		return
	case subtle.ConstantTimeCompare([]byte(req.Code), []byte(s.pair.code)) != 1:
		s.pair.failures++
		left := maxPairFailures - s.pair.failures
		if left <= 0 {
			s.pair.code = ""
			s.log.Warn("pairing code voided after wrong tries", "origin", r.Header.Get("Origin"))
			writeError(w, http.StatusForbidden, "pairing_closed", "too many wrong codes: this code no longer works; run 'posd pair' again")
			return
		}
		writeError(w, http.StatusForbidden, "wrong_code", fmt.Sprintf("that is not the code posd pair showed; %d tries left", left))
		return
	}
	s.pair.code = "" // once
	s.log.Info("a client paired", "origin", r.Header.Get("Origin"))
	writeJSON(w, http.StatusOK, PairResult{Token: *s.token.Load()})
}
