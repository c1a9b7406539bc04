// Package printer prints receipts. This first version lays a receipt out as
// plain text and spools it to a file; the ESC/POS encoder and the real
// transports plug in behind the same Worker.
package printer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tillworks/posd/payflow"
)

// Layout is what a receipt carries besides the payment.
type Layout struct {
	StoreName string
	TillID    string
	Header    []string
	Footer    []string
}

// Yuan formats fen as yuan with two decimals, from integers only.
func Yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}

// ChannelName is the wallet's name as a customer knows it.
func ChannelName(channel string) string {
	switch channel {
	case "alipay":
		return "支付宝"
	case "wechat":
		return "微信支付"
	case "unionpay":
		return "云闪付"
	case "ecny":
		return "数字人民币"
	}
	return "其他"
}

// Text lays out the receipt for payment p, or for its refund r when r is
// not nil.
func Text(l Layout, p *payflow.Payment, r *payflow.Refund) []byte {
	var b bytes.Buffer
	line := func(label, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\n", label, value)
		}
	}
	if l.StoreName != "" {
		fmt.Fprintf(&b, "%s\n", l.StoreName)
	}
	for _, h := range l.Header {
		fmt.Fprintf(&b, "%s\n", h)
	}
	if r == nil {
		b.WriteString("== 收款凭证 PAYMENT ==\n")
	} else {
		b.WriteString("== 退款凭证 REFUND ==\n")
	}
	line("终端 Till", l.TillID)
	line("操作员 Operator", p.Operator)
	at := p.UpdatedAt
	if r != nil {
		at = r.UpdatedAt
	}
	line("时间 Time", at.Format(time.DateTime))
	line("订单 Order", p.OrderID)
	line("支付单号 Payment", p.ID)
	if r == nil {
		line("金额 Amount", "¥"+Yuan(p.Amount))
		line("状态 State", string(p.State))
	} else {
		line("原金额 Paid", "¥"+Yuan(p.Amount))
		line("退款 Refund", "¥"+Yuan(r.Amount))
		line("退款号 Refund no", r.RequestNo)
		line("状态 State", string(r.State))
	}
	line("渠道 Channel", ChannelName(p.Channel))
	line("付款码 Code", p.AuthCodeMasked)
	line("网关单号 Gateway no", p.GatewayOrderNo)
	line("交易号 Trade no", p.ChannelTradeNo)
	for _, f := range l.Footer {
		fmt.Fprintf(&b, "%s\n", f)
	}
	return b.Bytes()
}

// Spool writes receipts as files into a directory, atomically and 0600.
type Spool struct {
	Dir string
}

// Print stores data under name unless a receipt of that name exists: a
// receipt is printed once. It reports whether it wrote anything.
func (s *Spool) Print(name string, data []byte) (bool, error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return false, fmt.Errorf("printer: receipt directory %s: %w", s.Dir, err)
	}
	path := filepath.Join(s.Dir, name)
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("printer: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("printer: writing receipt %s (is the disk full?): %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("printer: %w", err)
	}
	return true, nil
}

// Worker prints a receipt for every payment that ends paid and every refund
// that ends refunded, as the engine announces them.
type Worker struct {
	Spool  *Spool
	Layout Layout
	Log    *slog.Logger
	// Backlog, if set, lists recent payments when Run starts, so that a
	// receipt the daemon died before printing is printed after a restart.
	Backlog func() ([]*payflow.Payment, error)
}

// ReceiptName is the file a payment's (or refund's) receipt is spooled to.
func ReceiptName(p *payflow.Payment, r *payflow.Refund) string {
	day := p.CreatedAt.Format("20060102")
	if r != nil {
		return fmt.Sprintf("%s-%s-refund-%s.txt", day, p.ID, safeName(r.RequestNo))
	}
	return fmt.Sprintf("%s-%s-payment.txt", day, p.ID)
}

func safeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Run prints from a subscription to the engine's bus until ctx ends.
// Subscribe before starting the engine so that recovery's outcomes are seen.
func (w *Worker) Run(ctx context.Context, ch <-chan payflow.Event) {
	if w.Backlog != nil {
		ps, err := w.Backlog()
		if err != nil {
			w.Log.Error("cannot list recent payments to print missed receipts", "err", err)
		}
		for _, p := range ps {
			w.handle(payflow.Event{Type: "payment", Payment: p})
			for _, r := range p.Refunds {
				w.handle(payflow.Event{Type: "refund", Payment: p, Refund: r})
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			w.handle(ev)
		}
	}
}

func (w *Worker) handle(ev payflow.Event) {
	p, r := ev.Payment, ev.Refund
	switch {
	case ev.Type == "payment" && p != nil && p.State == payflow.StatePaid:
	case ev.Type == "refund" && p != nil && r != nil && r.State == payflow.RefundRefunded:
	default:
		return
	}
	name := ReceiptName(p, r)
	wrote, err := w.Spool.Print(name, Text(w.Layout, p, r))
	if err != nil {
		w.Log.Error("receipt not printed", "payment", p.ID, "err", err)
		return
	}
	if wrote {
		w.Log.Info("receipt printed", "payment", p.ID, "file", filepath.Join(w.Spool.Dir, name))
	}
}
