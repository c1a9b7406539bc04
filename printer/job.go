package printer

import "time"

// JobState is where a print job stands.
type JobState string

// Print job states.
const (
	JobPending  JobState = "pending"  // waiting for the printer
	JobPrinting JobState = "printing" // bytes may be on their way: if found so at start, reprint marked 重印
	JobDone     JobState = "done"
)

// Job is a receipt waiting to be printed, journaled (by a JobStore, posd's
// journal) so that it survives printer errors and restarts.
type Job struct {
	ID          string    `json:"id"` // payment/<id>, refund/<id>/<refund>, reprint/<id>/<n>, test/<n>
	Seq         uint64    `json:"seq"`
	PaymentID   string    `json:"payment_id,omitempty"`
	RefundID    string    `json:"refund_id,omitempty"`
	State       JobState  `json:"state"`
	Attempts    int       `json:"attempts"`
	Data        []byte    `json:"data"`         // the ESC/POS bytes
	ReprintData []byte    `json:"reprint_data"` // the same marked 重印, for a job that may have been half printed
	Error       string    `json:"error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}
