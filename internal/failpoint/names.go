package failpoint

// The instants posd can be stopped at, in one list: the drivers mark them
// with Hit, and the crash tests arm them by these names.
const (
	PayJournaled    = "pay-journaled"    // a pay is journaled, about to be sent
	PayAnswered     = "pay-answered"     // the gateway answered a pay, not yet journaled
	InDoubt         = "in-doubt"         // about to query a payment in doubt
	CancelJournaled = "cancel-journaled" // a cancel is journaled, about to be sent
	RefundJournaled = "refund-journaled" // a refund is journaled, about to be sent
	RefundAnswered  = "refund-answered"  // the gateway answered a refund, not yet journaled
	PrintQueued     = "print-queued"     // a receipt is queued, about to print
	PrintSending    = "print-sending"    // a receipt's bytes are going to the printer
	PrintDone       = "print-done"       // a receipt is printed, not yet recorded done
	CheckinAnswered = "checkin-answered" // a Shouqianba check-in answered, its key not yet saved
)

// Names lists every failpoint.
var Names = []string{PayJournaled, PayAnswered, InDoubt, CancelJournaled, RefundJournaled, RefundAnswered, PrintQueued, PrintSending, PrintDone, CheckinAnswered}
