package payflow

import (
	"errors"
	"time"
)

// Journal is the durable record the engine writes ahead of every gateway
// request. Each write must be on disk (fsynced) when it returns.
type Journal interface {
	// Create records a new payment. When p.OrderID is already taken it
	// returns the existing payment and an error wrapping ErrOrderExists.
	Create(p *Payment) (*Payment, error)
	// Save records p's new state, replacing the previous one.
	Save(p *Payment) error
	// Get returns the payment with the id, or an error wrapping ErrNotFound.
	Get(id string) (*Payment, error)
	// ByOrder returns the payment for the cash register's order id.
	ByOrder(orderID string) (*Payment, error)
	// Day returns the payments created on a local calendar day (YYYY-MM-DD).
	Day(day string) ([]*Payment, error)
	// RefundDay returns the payments with a refund created on a day.
	RefundDay(day string) ([]*Payment, error)
	// Open returns the payments that are live or need attention.
	Open() ([]*Payment, error)
	// ReserveSeq durably reserves n consecutive numbers never reserved
	// before and returns the first.
	ReserveSeq(n uint64) (first uint64, err error)
	// AssignGateway names gateway name (with account) on every payment
	// journaled before payments recorded their gateway, once, and returns
	// how many it changed.
	AssignGateway(name, account string, at time.Time) (int, error)
}

// Clock is the engine's source of time, injected so tests run in
// milliseconds.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// After waits for d on the wall clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Errors the engine returns; the local API maps each to a status and code.
var (
	ErrNotFound         = errors.New("no such payment")
	ErrOrderExists      = errors.New("order id already has a payment")
	ErrOrderConflict    = errors.New("order id already has a payment with another amount")
	ErrScannerBusy      = errors.New("another payment is already waiting for a scan")
	ErrNoPaymentWaiting = errors.New("no payment is waiting for a scan")
	ErrInvalidCode      = errors.New("not a payment code")
	ErrNotCancellable   = errors.New("payment cannot be cancelled")
	ErrNotRefundable    = errors.New("payment cannot be refunded")
	ErrRefundConflict   = errors.New("refund id already used with another amount")
	ErrRefundTooLarge   = errors.New("refund exceeds what is left to refund")
	ErrInvalid          = errors.New("invalid request")
	ErrClosed           = errors.New("engine is shutting down")
)
