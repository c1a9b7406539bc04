package payflow

// SetBeforePay makes e run f each time a driver is about to send a pay,
// before it takes the payment code: the instant a cashier's abort races.
func SetBeforePay(e *Engine, f func()) { e.beforePay = f }
