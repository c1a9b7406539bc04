package printer

import (
	"bytes"
	"fmt"
	"image"
	_ "image/png" // logos are PNG files
	"os"
	"strings"
	"time"

	"github.com/tillworks/posd/payflow"
)

// Paper is a roll width.
type Paper struct {
	MM      int
	Columns int // characters of font A per line
	Dots    int // printable dots per line
}

// The paper widths posd lays out for.
var (
	Paper58 = Paper{MM: 58, Columns: 32, Dots: 384}
	Paper80 = Paper{MM: 80, Columns: 48, Dots: 576}
)

// PaperFor returns the paper for a width in millimetres (58 or 80).
func PaperFor(mm int) (Paper, error) {
	switch mm {
	case 0, 80:
		return Paper80, nil
	case 58:
		return Paper58, nil
	}
	return Paper{}, fmt.Errorf("width_mm %d: use 58 or 80", mm)
}

// Layout is what a receipt carries besides the payment.
type Layout struct {
	Paper     Paper
	Charset   Charset
	StoreName string
	TillID    string
	Header    []string
	Footer    []string
	Drawer    bool        // pulse the cash drawer after a payment receipt
	Logo      image.Image // printed at the top, at most the paper's width in dots
	// LogoInPrinter keeps the logo in the printer's NV graphics memory
	// (the profile's NVGraphics): receipts print it by reference, and the
	// queue writes it into the printer (LogoDefinition) when it is not
	// known to be there.
	LogoInPrinter bool
	// Profile is what the printer can do (zero: DefaultProfile's); QR,
	// when set, overrides its QR mode.
	Profile Profile
	QR      string
	// Now stamps test pages; receipts carry the payment's own times.
	Now func() time.Time
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
	case "bestpay":
		return "翼支付"
	case "cmpay":
		return "和包支付"
	case "member":
		return "会员余额"
	case "baidu":
		return "百度钱包"
	case "jd":
		return "京东钱包"
	case "qq":
		return "QQ钱包"
	case "nfc":
		return "NFC支付"
	case "lakala":
		return "拉卡拉钱包"
	case "cmb":
		return "招商银行"
	}
	return "其他"
}

var stateNames = map[string]string{
	string(payflow.StatePaid):           "支付成功",
	string(payflow.StateFailed):         "支付失败",
	string(payflow.StateCancelled):      "已撤销",
	string(payflow.StateNeedsAttention): "待人工处理",
	string(payflow.RefundRefunded):      "退款成功",
}

func stateName(s string) string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return s
}

// Wrap cuts s into lines of at most cols columns as the charset prints
// them, never inside a character.
func (cs Charset) Wrap(s string, cols int) []string {
	if cols < 2 {
		cols = 2
	}
	var lines []string
	var cur strings.Builder
	w := 0
	for _, r := range s {
		rw := cs.RuneWidth(r)
		if w+rw > cols {
			lines = append(lines, cur.String())
			cur.Reset()
			w = 0
		}
		cur.WriteRune(r)
		w += rw
	}
	if cur.Len() > 0 || len(lines) == 0 {
		lines = append(lines, cur.String())
	}
	return lines
}

// row lays out "label  value" on cols columns: the value right-aligned,
// wrapped onto more lines (indented past the label) when it is long.
func (cs Charset) row(label, value string, cols int) []string {
	lw := cs.Width(label)
	if lw+1+cs.Width(value) <= cols {
		return []string{label + strings.Repeat(" ", cols-lw-cs.Width(value)) + value}
	}
	room := cols - lw - 1
	if room < cols/3 { // a very long label: value on its own lines
		out := []string{label}
		for _, l := range cs.Wrap(value, cols) {
			out = append(out, strings.Repeat(" ", cols-cs.Width(l))+l)
		}
		return out
	}
	var out []string
	for i, l := range cs.Wrap(value, room) {
		lead := strings.Repeat(" ", lw)
		if i == 0 {
			lead = label
		}
		out = append(out, lead+strings.Repeat(" ", cols-lw-cs.Width(l))+l)
	}
	return out
}

// itemLines lays out sold items: the name on the left (wrapped when long),
// then quantity and line total right-aligned in fixed columns, so that the
// figures line up whatever mix of Chinese and ASCII the names are.
func (cs Charset) itemLines(items []payflow.Item, cols int, money func(int64) string) []string {
	// The figure columns are as wide as their widest entry and a space.
	qtyW, amountW := cs.Width("数量")+1, cs.Width("金额")+1
	for _, it := range items {
		qtyW = max(qtyW, cs.Width(fmt.Sprintf("x%d", it.Quantity))+1)
		amountW = max(amountW, cs.Width(money(it.Amount))+1)
	}
	nameW := cols - qtyW - amountW
	var out []string
	out = append(out, cs.fit("商品", nameW)+pad("数量", cs.Width("数量"), qtyW, Right)+pad("金额", cs.Width("金额"), amountW, Right))
	for _, it := range items {
		names := cs.Wrap(it.Name, nameW-1)
		qty := fmt.Sprintf("x%d", it.Quantity)
		amt := money(it.Amount)
		out = append(out, cs.fit(names[0], nameW)+pad(qty, cs.Width(qty), qtyW, Right)+pad(amt, cs.Width(amt), amountW, Right))
		out = append(out, names[1:]...)
	}
	return out
}

// fit pads s with spaces to w columns.
func (cs Charset) fit(s string, w int) string {
	if d := w - cs.Width(s); d > 0 {
		return s + strings.Repeat(" ", d)
	}
	return s
}

// money formats fen with the yuan sign the printer's font has: the
// fullwidth ￥ is in every Chinese printer font (GB2312), while ¥ is a
// four-byte GB18030 sequence many printers cannot print.
func (l Layout) money(fen int64) string {
	if l.Charset.chinese {
		return "￥" + Yuan(fen)
	}
	return "¥" + Yuan(fen)
}

// Receipt renders the receipt of payment p, or of its refund r, as ESC/POS
// bytes. A reprint says 重印.
func (l Layout) Receipt(p *payflow.Payment, r *payflow.Refund, reprint bool) ([]byte, error) {
	var buf bytes.Buffer
	e := NewEncoder(&buf, l.Charset)
	cols := l.Paper.Columns
	lines := func(ss []string) {
		for _, s := range ss {
			e.Text(s).LF()
		}
	}
	cs := l.Charset
	row, wrap := cs.row, cs.Wrap
	rule := strings.Repeat("-", cols)

	e.Init().Align(Center)
	l.logo(e)
	if l.StoreName != "" {
		e.Bold(true).Size(2, 2)
		lines(wrap(l.StoreName, cols/2))
		e.Size(1, 1).Bold(false)
	}
	for _, h := range l.Header {
		lines(wrap(h, cols))
	}
	title := "收款凭证"
	if r != nil {
		title = "退款凭证"
	}
	e.Bold(true).Size(1, 2).Text(title).LF().Size(1, 1).Bold(false)
	if reprint {
		e.Bold(true).Text("** 重印 REPRINT **").LF().Bold(false)
	}
	e.Align(Left).Text(rule).LF()
	if r == nil && len(p.Items) > 0 {
		lines(cs.itemLines(p.Items, cols, l.money))
		e.Text(rule).LF()
	}

	at := p.UpdatedAt
	if r != nil {
		at = r.UpdatedAt
	}
	lines(row("终端", l.TillID, cols))
	if p.Operator != "" {
		lines(row("操作员", p.Operator, cols))
	}
	lines(row("时间", at.Format(time.DateTime), cols))
	lines(row("订单号", p.OrderID, cols))
	if r == nil {
		e.Bold(true)
		lines(row("金额", l.money(p.Amount), cols))
		e.Bold(false)
		// What the gateway took off, and what the customer paid: the
		// customer may have paid less than the amount.
		for _, d := range p.Discounts {
			lines(row(d.Label, "-"+l.money(d.Amount), cols))
		}
		if p.CustomerPaid > 0 && p.CustomerPaid != p.Amount {
			e.Bold(true)
			lines(row("顾客实付", l.money(p.CustomerPaid), cols))
			e.Bold(false)
		}
		lines(row("支付方式", ChannelName(p.Channel), cols))
		lines(row("状态", stateName(string(p.State)), cols))
	} else {
		lines(row("原支付金额", l.money(p.Amount), cols))
		e.Bold(true)
		lines(row("退款金额", l.money(r.Amount), cols))
		e.Bold(false)
		lines(row("支付方式", ChannelName(p.Channel), cols))
		lines(row("退款单号", r.RequestNo, cols))
		lines(row("状态", stateName(string(r.State)), cols))
	}
	if p.AuthCodeMasked != "" {
		lines(row("付款码", p.AuthCodeMasked, cols))
	}
	lines(row("网关单号", p.GatewayOrderNo, cols))
	if p.ChannelTradeNo != "" {
		lines(row("交易号", p.ChannelTradeNo, cols))
	}
	e.Text(rule).LF()
	e.Align(Center)
	if r == nil {
		if err := l.qr(e, p.ID); err != nil {
			return nil, err
		}
		e.LF()
		e.Text("退款请扫码 " + p.ID).LF()
	}
	for _, f := range l.Footer {
		lines(wrap(f, cols))
	}
	l.end(e)
	if l.Drawer && l.profile().Drawer && r == nil && !reprint {
		e.Drawer()
	}
	if err := e.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// profile is the layout's printer profile.
func (l Layout) profile() Profile {
	if l.Profile.Name == "" {
		p, _ := LookupProfile(DefaultProfile)
		return p
	}
	return l.Profile
}

// qrMode is how the printer is told to print a QR code.
func (l Layout) qrMode() string {
	if l.QR != "" {
		return l.QR
	}
	return l.profile().QR
}

// qr prints a QR code the way the profile says the printer takes one.
func (l Layout) qr(e *Encoder, data string) error {
	switch l.qrMode() {
	case QRRaster:
		return e.QRRaster(data, max(2, l.Paper.Dots/96), 'M')
	case QRESCZ:
		e.QRESCZ(data, 6, 'M')
	default:
		e.QR(data, 6, 'M')
	}
	return nil
}

// QRSlip renders the slip a till without a customer display prints for a
// QR payment: what to pay, the code to scan, and until when it is valid.
// It is no receipt: nothing has been paid yet.
func (l Layout) QRSlip(p *payflow.Payment) ([]byte, error) {
	if p.QR == nil || p.QR.Code == "" {
		return nil, fmt.Errorf("printer: payment %s has no QR code to print", p.ID)
	}
	var buf bytes.Buffer
	cs := l.Charset
	e := NewEncoder(&buf, cs)
	cols := l.Paper.Columns
	e.Init().Align(Center)
	if l.StoreName != "" {
		for _, s := range cs.Wrap(l.StoreName, cols) {
			e.Text(s).LF()
		}
	}
	e.Bold(true).Size(1, 2).Text("请扫码付款").LF().Size(1, 1).Bold(false)
	e.Text("Scan to pay").LF()
	e.Bold(true).Size(2, 2).Text(l.money(p.Amount)).LF().Size(1, 1).Bold(false)
	if err := l.qr(e, p.QR.Code); err != nil {
		return nil, err
	}
	e.LF().Align(Left)
	for _, s := range cs.row("订单 order", p.OrderID, cols) {
		e.Text(s).LF()
	}
	for _, s := range cs.row("有效至 valid until", p.QR.ExpiresAt.Format("15:04:05"), cols) {
		e.Text(s).LF()
	}
	e.Align(Center).Text("此单非收款凭证 not a receipt").LF()
	l.end(e)
	if err := e.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// end feeds the paper past the tear bar, and cuts where there is a cutter.
func (l Layout) end(e *Encoder) {
	e.Align(Left)
	if l.profile().Cutter {
		e.Feed(3).Cut(true)
		return
	}
	e.Feed(5) // no cutter: past the tear bar
}

// LoadLogo reads a PNG logo for receipts; it must fit the paper.
func LoadLogo(path string, p Paper) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("printer: logo: %w", err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("printer: logo %s is not a PNG image: %w", path, err)
	}
	if w := img.Bounds().Dx(); w > p.Dots {
		return nil, fmt.Errorf("printer: logo %s is %d dots wide; %d mm paper prints at most %d", path, w, p.MM, p.Dots)
	}
	if h := img.Bounds().Dy(); h > 400 {
		return nil, fmt.Errorf("printer: logo %s is %d dots high; keep it under 400", path, h)
	}
	return img, nil
}

// logo prints the logo at the top: by reference when the printer keeps it.
func (l Layout) logo(e *Encoder) {
	switch {
	case l.Logo == nil || l.Logo.Bounds().Dx() > l.Paper.Dots:
	case l.LogoInPrinter:
		e.PrintNVLogo()
	default:
		e.Raster(l.Logo)
	}
}

// LogoDefinition is what writes the logo into the printer's NV graphics
// memory, or nil when the layout sends its logo with every receipt.
func (l Layout) LogoDefinition() ([]byte, error) {
	if !l.LogoInPrinter || l.Logo == nil {
		return nil, nil
	}
	var buf bytes.Buffer
	e := NewEncoder(&buf, l.Charset)
	if err := e.DefineNVLogo(l.Logo); err != nil {
		return nil, err
	}
	if err := e.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TestPage renders a page that shows what the printer can do and what
// posd assumes of it: the profile, its columns, QR mode, cutter, drawer and
// font, a ruler, Chinese, a line with the characters that print wider than
// Unicode says, alignment, underline, a QR code and (where the profile has
// it) a Code 128 barcode. What prints wrong shows which setting to change.
func (l Layout) TestPage() ([]byte, error) {
	var buf bytes.Buffer
	cs := l.Charset
	e := NewEncoder(&buf, cs)
	cols := l.Paper.Columns
	pr := l.profile()
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	yes := func(b bool) string {
		if b {
			return "有 yes"
		}
		return "无 no"
	}
	font := "双字节 2-byte only"
	if cs.fourByte {
		font = "含四字节 4-byte too"
	}
	lines := func(ss []string) {
		for _, s := range ss {
			e.Text(s).LF()
		}
	}
	e.Init().Align(Center).Bold(true).Size(2, 2).Text("posd").LF().Size(1, 1).Bold(false)
	e.Text("打印测试 test page").LF()
	e.Align(Left).Text(strings.Repeat("=", cols)).LF()
	lines(cs.row("型号 profile", pr.Name, cols))
	lines(cs.Wrap(pr.Models, cols))
	lines(cs.row("纸宽 paper", fmt.Sprintf("%d mm, %d cols", l.Paper.MM, cols), cols))
	lines(cs.row("编码 encoding", cs.Name+", "+font, cols))
	lines(cs.row("二维码 QR", l.qrMode(), cols))
	lines(cs.row("条码 Code 128", yes(pr.Code128), cols))
	lines(cs.row("切刀 cutter", yes(pr.Cutter), cols))
	lines(cs.row("钱箱 drawer", yes(pr.Drawer), cols))
	lines(cs.row("终端 till", l.TillID, cols))
	lines(cs.row("时间 time", now.Format(time.DateTime), cols))
	e.Text(strings.Repeat("0123456789", cols/10+1)[:cols]).LF()
	e.Text(strings.Repeat("中", cols/2)).LF()
	// Each of these prints two columns wide in Chinese mode: the line
	// ends at the ruler's end when the width is right.
	lines(cs.itemLines([]payflow.Item{{Name: "百事可乐·无糖 330ml×6", Quantity: 1, Amount: 1990}}, cols, l.money)[1:])
	e.Align(Right).Text("右对齐 right").LF().Align(Center).Underline(true).Text("下划线 underline").Underline(false).LF()
	if err := l.qr(e, "posd test page"); err != nil {
		return nil, err
	}
	e.LF()
	if pr.Code128 {
		e.Code128("POSD-TEST-123").LF()
	} else {
		e.Text("Code 128: 此型号不支持").LF()
	}
	if l.LogoInPrinter && l.Logo != nil {
		// The logo as receipts print it, from the printer's memory: a
		// blank here means the printer does not hold it.
		e.Align(Center).Text("存储标志 logo kept in printer:").LF()
		l.logo(e)
		e.LF()
	}
	l.end(e)
	if err := e.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
