package printer_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
)

func TestYuan(t *testing.T) {
	for fen, want := range map[int64]string{0: "0.00", 1: "0.01", 1250: "12.50", 100: "1.00", 9999999999: "99999999.99", -5: "-0.05"} {
		assert.Equal(t, want, printer.Yuan(fen))
	}
}

func paid() *payflow.Payment {
	at := time.Date(2026, 11, 21, 10, 30, 0, 0, time.UTC)
	return &payflow.Payment{ID: "pay_x", OrderID: "A1", Amount: 1250, State: payflow.StatePaid, Channel: "wechat",
		AuthCodeMasked: "1345**********6789", GatewayOrderNo: "26112100000100000001", ChannelTradeNo: "4200",
		Operator: "op1", CreatedAt: at, UpdatedAt: at}
}

func TestTextReceipt(t *testing.T) {
	l := printer.Layout{StoreName: "某某便利店", TillID: "till-01", Header: []string{"欢迎光临"}, Footer: []string{"谢谢惠顾"}}
	got := string(printer.Text(l, paid(), nil))
	for _, want := range []string{"某某便利店\n", "欢迎光临\n", "收款凭证", "终端 Till: till-01", "时间 Time: 2026-11-21 10:30:00",
		"订单 Order: A1", "金额 Amount: ¥12.50", "渠道 Channel: 微信支付", "付款码 Code: 1345**********6789",
		"网关单号 Gateway no: 26112100000100000001", "谢谢惠顾\n"} {
		assert.Contains(t, got, want)
	}
	r := &payflow.Refund{ID: "R1", RequestNo: "26112100000100000002", Amount: 300, State: payflow.RefundRefunded, UpdatedAt: paid().UpdatedAt}
	got = string(printer.Text(l, paid(), r))
	assert.Contains(t, got, "退款凭证")
	assert.Contains(t, got, "退款 Refund: ¥3.00")
}

func TestSpoolPrintsOnce(t *testing.T) {
	s := &printer.Spool{Dir: filepath.Join(t.TempDir(), "receipts")}
	wrote, err := s.Print("a.txt", []byte("one"))
	require.NoError(t, err)
	assert.True(t, wrote)
	wrote, err = s.Print("a.txt", []byte("two"))
	require.NoError(t, err)
	assert.False(t, wrote)
	b, _ := os.ReadFile(filepath.Join(s.Dir, "a.txt"))
	assert.Equal(t, "one", string(b))
	fi, _ := os.Stat(filepath.Join(s.Dir, "a.txt"))
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestSpoolUnwritable(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(f, nil, 0o600))
	s := &printer.Spool{Dir: filepath.Join(f, "receipts")} // a directory under a file
	_, err := s.Print("a.txt", []byte("x"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "receipt directory")
}

func TestWorker(t *testing.T) {
	dir := t.TempDir()
	bus := &payflow.Bus{}
	ch, stop := bus.Subscribe(16)
	defer stop()
	w := &printer.Worker{Spool: &printer.Spool{Dir: dir}, Layout: printer.Layout{TillID: "t"}, Log: discard()}
	done := make(chan struct{})
	go func() { w.Run(t.Context(), ch); close(done) }()
	p := paid()
	p.State = payflow.StatePaying
	bus.Publish(payflow.Event{Type: "payment", Payment: p})
	bus.Publish(payflow.Event{Type: "payment", Payment: paid()})
	r := &payflow.Refund{ID: "R1", RequestNo: "N1", Amount: 300, State: payflow.RefundRefunded}
	bus.Publish(payflow.Event{Type: "refund", Payment: paid(), Refund: r})
	require.Eventually(t, func() bool {
		es, _ := os.ReadDir(dir)
		return len(es) == 2
	}, 5*time.Second, 5*time.Millisecond)
	stop()
	<-done
	_, err := os.Stat(filepath.Join(dir, printer.ReceiptName(paid(), nil)))
	assert.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, printer.ReceiptName(paid(), r)))
	assert.NoError(t, err)
}
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestWorkerPrintsBacklog(t *testing.T) {
	dir := t.TempDir()
	r := &payflow.Refund{ID: "R1", RequestNo: "N1", Amount: 300, State: payflow.RefundRefunded}
	p := paid()
	p.Refunds = []*payflow.Refund{r, {ID: "R2", RequestNo: "N2", State: payflow.RefundFailed}}
	w := &printer.Worker{Spool: &printer.Spool{Dir: dir}, Log: discard(),
		Backlog: func() ([]*payflow.Payment, error) { return []*payflow.Payment{p}, nil }}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	w.Run(ctx, make(chan payflow.Event))
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, es, 2, "the payment's and the refunded refund's receipts")
}
