package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tillworks/posd/internal/daemon"
	"github.com/tillworks/posd/localapi"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
)

// apiClient calls a running daemon's local API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

// apiError is an error answer from the daemon.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d): %s", e.Code, e.Status, e.Message)
}

// raw sends body (JSON-encoded, if not nil) and returns the answer's
// bytes; an error answer becomes an *apiError.
func (c *apiClient) raw(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach posd at %s (is 'posd run' running?): %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error payflow.Error `json:"error"`
		}
		if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
			return nil, &apiError{Status: resp.StatusCode, Code: "http_error", Message: strings.TrimSpace(string(b))}
		}
		return nil, &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	return b, nil
}

// do is raw for JSON answers, decoded into out (if not nil).
func (c *apiClient) do(method, path string, body, out any) error {
	b, err := c.raw(method, path, body)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// newAPIClient finds the daemon from --api/--token, or from the same
// configuration and data directory the daemon runs with.
func newAPIClient(apiURL, token, cfgPath, dataDir string) (*apiClient, error) {
	if apiURL == "" || token == "" {
		cfg, err := loadConfig(cfgPath, dataDir)
		if err != nil {
			return nil, err
		}
		if apiURL == "" {
			apiURL = "http://" + cfg.API.Listen
		}
		if token == "" {
			token = cfg.API.Token
		}
		if token == "" {
			path := filepath.Join(cfg.DataDir, daemon.TokenFile)
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("no API token: %v (start 'posd run' once, or pass --token)", err)
			}
			token = strings.TrimSpace(string(b))
		}
	}
	return &apiClient{base: strings.TrimRight(apiURL, "/"), token: token, http: &http.Client{Timeout: 90 * time.Second}}, nil
}

func cmdClient(name string, args []string, stdout io.Writer) (int, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfgPath, dataDir := configFlags(fs)
	apiURL := fs.String("api", "", "daemon API base URL (default: from the configuration)")
	token := fs.String("token", "", "API token (default: api.token or <data_dir>/api-token)")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	var (
		amount   = fs.Int64("amount", 0, "amount in fen (1250 is ¥12.50)")
		order    = fs.String("order", "", "order id (pay)")
		code     = fs.String("code", "", "payment code (pay); none: wait for a scan")
		subject  = fs.String("subject", "", "what is sold (pay)")
		operator = fs.String("operator", "", "cashier (pay, refund)")
		wait     = fs.Bool("wait", false, "wait until the payment settles (pay, status)")
		refundID = fs.String("refund-id", "", "the refund's id, reused when retrying it (refund)")
		reason   = fs.String("reason", "", "refund reason (refund)")
		date     = fs.String("date", "", "day, YYYY-MM-DD (report; default today)")
		pngOut   = fs.String("png", "", "write the receipt as a PNG image to this file (receipt)")
		escOut   = fs.String("escpos", "", "write the receipt's ESC/POS bytes to this file (receipt)")
		reprint  = fs.Bool("reprint", false, "print the receipt again, marked 重印 (receipt)")
		qrPay    = fs.Bool("qr", false, "the customer scans a QR code posd shows here (pay)")
		channel  = fs.String("channel", "", "the wallet the QR code is for: wechat, alipay, unionpay (pay --qr; some gateways need it)")
		expires  = fs.Int("expires", 0, "seconds the QR code is shown before it is closed, 30-300 (pay --qr; default 120)")
	)
	// Positional arguments (an id, a code) may come before the flags.
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if err := parseFlags(fs, args); err != nil {
		return 0, err
	}
	pos = append(pos, fs.Args()...)
	if err := checkClientArgs(name, pos, *order, *amount, *refundID); err != nil {
		return 0, err
	}
	c, err := newAPIClient(*apiURL, *token, *cfgPath, *dataDir)
	if err != nil {
		return 0, err
	}
	var p payflow.Payment
	show := func(v any) {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(v)
			return
		}
		if pp, ok := v.(*payflow.Payment); ok {
			printPayment(stdout, pp)
		}
	}
	if name == "status" && len(pos) == 0 {
		var h localapi.Health
		if err := c.do("GET", "/v1/health", nil, &h); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
				return 0, err
			}
		}
		if *asJSON {
			show(&h)
		} else {
			printHealth(stdout, &h)
		}
		if h.Status != "ok" {
			return exitFailure, nil
		}
		return 0, nil
	}
	switch name {
	case "pay", "status":
		if name == "pay" {
			req := map[string]any{"order_id": *order, "amount": *amount, "subject": *subject, "operator": *operator}
			if *code != "" {
				req["auth_code"] = *code
			}
			if *qrPay {
				if *code != "" {
					return 0, &usageError{"posd pay --qr takes no --code: the customer scans the code posd shows"}
				}
				req["method"] = payflow.MethodQR
				if *channel != "" {
					req["channel"] = *channel
				}
				if *expires != 0 {
					req["expires_in"] = *expires
				}
			}
			err = c.do("POST", "/v1/payments", req, &p)
			if err == nil && p.QR != nil && p.QR.Code != "" && !*asJSON {
				fmt.Fprintf(stdout, "scan to pay ¥%s (until %s):\n", printer.Yuan(p.Amount), p.QR.ExpiresAt.Local().Format("15:04:05"))
				if err := writeTerminalQR(stdout, p.QR.Code); err != nil {
					fmt.Fprintf(stdout, "%s\n", p.QR.Code)
				}
			}
		} else {
			err = c.do("GET", "/v1/payments/"+pos[0], nil, &p)
		}
		if err != nil {
			return 0, err
		}
		if *wait {
			if err := c.waitSettled(&p); err != nil {
				return 0, err
			}
		}
		show(&p)
		return settledCode(&p, *wait), nil
	case "cancel":
		if err := c.do("POST", "/v1/payments/"+pos[0]+"/cancel", nil, &p); err != nil {
			return 0, err
		}
		show(&p)
	case "scan":
		if err := c.do("POST", "/v1/scans", map[string]string{"code": pos[0]}, &p); err != nil {
			return 0, err
		}
		show(&p)
	case "refund":
		var rr localapi.RefundResponse
		req := map[string]any{"refund_id": *refundID, "amount": *amount, "reason": *reason, "operator": *operator}
		if err := c.do("POST", "/v1/payments/"+pos[0]+"/refunds", req, &rr); err != nil {
			return 0, err
		}
		if *asJSON {
			show(rr)
		} else {
			fmt.Fprintf(stdout, "refund %s of ¥%s: %s (refund no %s)\n", rr.Refund.ID, printer.Yuan(rr.Refund.Amount), rr.Refund.State, rr.Refund.RequestNo)
		}
	case "printer":
		var job localapi.JobResponse
		if err := c.do("POST", "/v1/printer/test", nil, &job); err != nil {
			return 0, err
		}
		fmt.Fprintf(stdout, "test page queued (job %s)\n", job.Job)
	case "receipt":
		path := "/v1/payments/" + pos[0] + "/receipt"
		if *reprint {
			var job localapi.JobResponse
			if err := c.do("POST", path, map[string]string{"refund_id": *refundID}, &job); err != nil {
				return 0, err
			}
			fmt.Fprintf(stdout, "reprint queued (job %s)\n", job.Job)
			return exitOK, nil
		}
		format, out := "text", ""
		switch {
		case *pngOut != "":
			format, out = "png", *pngOut
		case *escOut != "":
			format, out = "escpos", *escOut
		}
		q := "?format=" + format
		if *refundID != "" {
			q += "&refund_id=" + *refundID
		}
		b, err := c.raw("GET", path+q, nil)
		if err != nil {
			return 0, err
		}
		if out == "" {
			stdout.Write(b)
			return exitOK, nil
		}
		if err := os.WriteFile(out, b, 0o600); err != nil {
			return 0, err
		}
		fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", out, len(b))
	case "report":
		path := "/v1/reports/daily"
		if *date != "" {
			path += "?date=" + *date
		}
		var rep localapi.DailyReport
		if err := c.do("GET", path, nil, &rep); err != nil {
			return 0, err
		}
		if *asJSON {
			show(rep)
		} else {
			printReport(stdout, &rep)
		}
	}
	return exitOK, nil
}

// checkClientArgs rejects a malformed command line before anything is
// sent.
// printHealth shows the daemon's health and what it last saw of each gateway.
func printHealth(w io.Writer, h *localapi.Health) {
	fmt.Fprintf(w, "posd %s on till %s: %s", h.Version, h.TillID, strings.ToUpper(h.Status))
	if h.Message != "" {
		fmt.Fprintf(w, " — %s", h.Message)
	}
	fmt.Fprintf(w, "\njournal %s; %d in doubt, %d need attention, %d refunds in doubt\n", h.Journal, h.InDoubt, h.NeedsAttention, h.RefundsInDoubt)
	for _, g := range h.Gateways {
		mark := ""
		if g.Default {
			mark = " (default)"
		}
		fmt.Fprintf(w, "gateway %s%s: last answer %s", g.Name, mark, when(g.LastSuccess))
		if !g.LastFailure.IsZero() && g.LastFailure.After(g.LastSuccess) {
			fmt.Fprintf(w, "; FAILING since %s: %s", when(g.LastFailure), g.LastError)
		}
		fmt.Fprintln(w)
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func checkClientArgs(name string, pos []string, order string, amount int64, refundID string) error {
	want, what := 1, "a payment id"
	switch name {
	case "pay":
		if order == "" || amount <= 0 {
			return &usageError{"posd pay needs --order ID and --amount FEN (1250 is ¥12.50)"}
		}
		want, what = 0, "no positional arguments"
	case "scan":
		what = "the scanned code"
	case "refund":
		if refundID == "" || amount <= 0 {
			return &usageError{"posd refund needs --refund-id ID and --amount FEN"}
		}
	case "report":
		want, what = 0, "no positional arguments"
	case "status":
		if len(pos) == 0 {
			return nil // the daemon's health and its gateways
		}
	case "printer":
		what = "test"
		if len(pos) == 1 && pos[0] != "test" {
			return &usageError{"usage: posd printer test"}
		}
	}
	if len(pos) != want {
		return &usageError{fmt.Sprintf("posd %s takes %s", name, what)}
	}
	return nil
}

// waitSettled long-polls until p is terminal.
func (c *apiClient) waitSettled(p *payflow.Payment) error {
	for p.State != "" && !p.State.Terminal() {
		var next payflow.Payment
		if err := c.do("GET", "/v1/payments/"+p.ID+"?wait=60", nil, &next); err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				return err
			}
			time.Sleep(time.Second) // the daemon may be restarting
			continue
		}
		*p = next
	}
	return nil
}

func settledCode(p *payflow.Payment, waited bool) int {
	if waited && p.State.Terminal() && p.State != payflow.StatePaid {
		return exitNotPaid
	}
	return exitOK
}

func printPayment(w io.Writer, p *payflow.Payment) {
	fmt.Fprintf(w, "payment %s  order %s  ¥%s  %s\n", p.ID, p.OrderID, printer.Yuan(p.Amount), strings.ToUpper(string(p.State)))
	how := "code " + p.AuthCodeMasked
	if p.Method != "" {
		how = "method " + p.Method
	}
	fmt.Fprintf(w, "  channel %s  %s  gateway order %s", p.Channel, how, p.GatewayOrderNo)
	if p.ChannelTradeNo != "" {
		fmt.Fprintf(w, "  trade %s", p.ChannelTradeNo)
	}
	fmt.Fprintln(w)
	if p.RefundedAmount > 0 {
		fmt.Fprintf(w, "  refunded ¥%s\n", printer.Yuan(p.RefundedAmount))
	}
	if p.State == payflow.StateAwaitingCustomer && p.QR != nil {
		fmt.Fprintf(w, "  QR code %s shown until %s\n", p.QR.Code, p.QR.ExpiresAt.Local().Format("15:04:05"))
	}
	if p.Error != nil {
		fmt.Fprintf(w, "  %s: %s\n", p.Error.Code, p.Error.Message)
	}
	if p.State == payflow.StateNeedsAttention {
		fmt.Fprintln(w, "  !! NEEDS ATTENTION: check this order in the gateway's merchant console; 'posd cancel ID' retries the cancel")
	}
}

func printReport(w io.Writer, r *localapi.DailyReport) {
	fmt.Fprintf(w, "日结 daily report %s  till %s\n", r.Date, r.TillID)
	rows := func(title string, rows []localapi.ReportRow) {
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(w, "%s\n", title)
		for _, row := range rows {
			fmt.Fprintf(w, "  %-10s %-11s %-17s %5d  ¥%12s\n", row.Channel, row.Method, row.State, row.Count, printer.Yuan(row.Amount))
		}
	}
	rows("payments", r.Rows)
	rows("refunds", r.RefundRows)
	fmt.Fprintf(w, "paid     %5d  ¥%s\nrefunded %5d  ¥%s\nnet             ¥%s\n",
		r.Paid.Count, printer.Yuan(r.Paid.Amount), r.Refunded.Count, printer.Yuan(r.Refunded.Amount), printer.Yuan(r.Net))
	if r.Open > 0 || r.RefundsOpen > 0 || r.NeedsAttention > 0 {
		fmt.Fprintf(w, "open payments %d, open refunds %d, NEEDS ATTENTION %d\n", r.Open, r.RefundsOpen, r.NeedsAttention)
	}
}
