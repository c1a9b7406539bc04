package payflow

import "time"

// SetBeforePay makes e run f each time a driver is about to send a pay,
// before it takes the payment code: the instant a cashier's abort races.
func SetBeforePay(e *Engine, f func()) { e.beforePay = f }

// Allowed reports whether the table has an edge from state on trigger to
// state to.
func Allowed(from State, on Trigger, to State) bool {
	tr, ok := payTransitions[from][on]
	return ok && tr.to == to
}

// PatientWait is patientWait, for its table test.
var PatientWait = patientWait

// SetOnSleep makes e tell f of each wait a driver starts on its clock,
// once the timer is set.
func SetOnSleep(e *Engine, f func(time.Duration)) { e.onSleep = f }
