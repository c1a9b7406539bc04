package printer_test

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var at = time.Date(2026, 11, 21, 10, 30, 0, 0, time.UTC)

func paidPayment() *payflow.Payment {
	return &payflow.Payment{ID: "pay_abcdefghijklmnop", OrderID: "A1-中文订单", Amount: 1250, State: payflow.StatePaid,
		Channel: "wechat", AuthCodeMasked: "1345**********6789", GatewayOrderNo: "26112153345400000001",
		ChannelTradeNo: "4200000000000000416372569098", Operator: "收银员 01", CreatedAt: at, UpdatedAt: at,
		Items: []payflow.Item{
			{Name: "拿铁咖啡 Latte", Quantity: 1, Amount: 800},
			{Name: "Croissant", Quantity: 2, Amount: 300},
			{Name: "有机燕麦牛奶超大杯加浓缩咖啡 extra shot", Quantity: 1, Amount: 150},
		}}
}

func refund() *payflow.Refund {
	return &payflow.Refund{ID: "R1", RequestNo: "26112153345400000002", Amount: 300, State: payflow.RefundRefunded, UpdatedAt: at.Add(time.Hour)}
}

func layout(t *testing.T, mm int) printer.Layout {
	t.Helper()
	paper, err := printer.PaperFor(mm)
	require.NoError(t, err)
	cs, err := printer.LookupCharset("gb18030")
	require.NoError(t, err)
	return printer.Layout{Paper: paper, Charset: cs, StoreName: "某某便利店", TillID: "till-01",
		Header: []string{"欢迎光临 Welcome"}, Footer: []string{"谢谢惠顾，请保留小票"}}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./printer -update to create it")
	assert.Equal(t, string(want), string(got), "%s differs; if the change is meant, run go test ./printer -update and review the diff", name)
}

// TestReceiptGolden pins the exact bytes and the text preview of a payment
// and a refund receipt on both paper widths.
func TestReceiptGolden(t *testing.T) {
	for _, mm := range []int{58, 80} {
		for _, kind := range []string{"payment", "refund"} {
			t.Run(kind+"-"+strconv.Itoa(mm), func(t *testing.T) {
				l := layout(t, mm)
				var r *payflow.Refund
				if kind == "refund" {
					r = refund()
				}
				data, err := l.Receipt(paidPayment(), r, false)
				require.NoError(t, err)
				name := kind + "-" + strconv.Itoa(mm)
				golden(t, name+".bin", data)
				doc, err := printer.Interpret(data)
				require.NoError(t, err)
				text := doc.Text(l.Paper.Columns)
				golden(t, name+".txt", []byte(text))

				// Every line fits the paper, counting wide characters twice,
				// and item lines end exactly at the right edge.
				items := 0
				for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
					assert.LessOrEqual(t, printer.Width(line), l.Paper.Columns, "line %q overflows", line)
					if strings.Contains(line, " x") && strings.Contains(line, "￥") {
						items++
						assert.Equal(t, l.Paper.Columns, printer.Width(line), "item line %q", line)
					}
				}
				if kind == "payment" {
					assert.Equal(t, 3, items)
				}
			})
		}
	}
}

// TestDiscountReceipt: the discounts a gateway reported and what the
// customer paid are on the receipt (golden), each line within the paper.
func TestDiscountReceipt(t *testing.T) {
	l := layout(t, 58)
	p := paidPayment()
	p.Items = nil
	p.Discounts = []payflow.Discount{{Name: "buss_discount_amt", Label: "商家优惠", Amount: 100}, {Name: "platform_discount_amt", Label: "平台优惠", Amount: 50}}
	p.CustomerPaid = 1100
	data, err := l.Receipt(p, nil, false)
	require.NoError(t, err)
	doc, err := printer.Interpret(data)
	require.NoError(t, err)
	text := doc.Text(l.Paper.Columns)
	golden(t, "payment-discount-58.txt", []byte(text))
	assert.Contains(t, text, "商家优惠                 -￥1.00")
	assert.Contains(t, text, "顾客实付                 ￥11.00")
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		assert.LessOrEqual(t, printer.Width(line), l.Paper.Columns, "line %q overflows", line)
	}
}

// TestChineseRoundTrip decodes the Chinese back out of the printed bytes,
// independently of the preview.
func TestChineseRoundTrip(t *testing.T) {
	data, err := layout(t, 80).Receipt(paidPayment(), nil, false)
	require.NoError(t, err)
	decoded, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
	require.NoError(t, err)
	for _, want := range []string{"某某便利店", "欢迎光临 Welcome", "收款凭证", "微信支付", "支付成功", "￥12.50", "A1-中文订单", "收银员 01", "谢谢惠顾，请保留小票", "退款请扫码 pay_abcdefghijklmnop"} {
		assert.Contains(t, string(decoded), want)
	}
	assert.NotContains(t, string(decoded), "重印")

	again, err := layout(t, 80).Receipt(paidPayment(), nil, true)
	require.NoError(t, err)
	decoded, _ = simplifiedchinese.GB18030.NewDecoder().Bytes(again)
	assert.Contains(t, string(decoded), "重印")
}

func TestEncoder(t *testing.T) {
	gbk, _ := printer.LookupCharset("gbk")
	gb18030, _ := printer.LookupCharset("gb18030")
	cp437, _ := printer.LookupCharset("cp437")
	enc := func(cs printer.Charset, f func(e *printer.Encoder)) []byte {
		var buf bytes.Buffer
		e := printer.NewEncoder(&buf, cs)
		f(e)
		require.NoError(t, e.Flush())
		return buf.Bytes()
	}
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"init chinese", enc(gb18030, func(e *printer.Encoder) { e.Init() }), []byte{0x1b, '@', 0x1c, '&'}},
		{"init code page", enc(cp437, func(e *printer.Encoder) { e.Init() }), []byte{0x1b, '@', 0x1c, '.', 0x1b, 't', 0}},
		{"中 in GB18030", enc(gb18030, func(e *printer.Encoder) { e.Text("中") }), []byte{0xd6, 0xd0}},
		{"GBK cannot print an emoji or CJK extension B", enc(gbk, func(e *printer.Encoder) { e.Text("a😀𠀀b") }), []byte("a??b")},
		{"GB18030 can", enc(gb18030, func(e *printer.Encoder) { e.Text("😀") }), []byte{0x94, 0x39, 0xfc, 0x36}},
		{"code page 437 has no Chinese", enc(cp437, func(e *printer.Encoder) { e.Text("é中") }), []byte{0x82, '?'}},
		{"control characters never reach the printer", enc(gb18030, func(e *printer.Encoder) { e.Text("A\x1b@\x1dV\x00B\u0085") }), []byte("A?@?V?B?")},
		{"newline is a line feed", enc(gb18030, func(e *printer.Encoder) { e.Text("a\nb") }), []byte("a\nb")},
		{"invalid UTF-8", enc(gb18030, func(e *printer.Encoder) { e.Text("a\xffb") }), []byte("a?b")},
		{"size", enc(gb18030, func(e *printer.Encoder) { e.Size(2, 3).Size(0, 99) }), []byte{0x1d, '!', 0x12, 0x1d, '!', 0x07}},
		{"styles", enc(gb18030, func(e *printer.Encoder) { e.Align(printer.Center).Bold(true).Underline(true).LF().Feed(2) }),
			[]byte{0x1b, 'a', 1, 0x1b, 'E', 1, 0x1b, '-', 1, '\n', 0x1b, 'd', 2}},
		{"cuts and drawer", enc(gb18030, func(e *printer.Encoder) { e.Cut(false).Cut(true).Drawer() }),
			[]byte{0x1d, 'V', 65, 3, 0x1d, 'V', 66, 3, 0x1b, 'p', 0, 25, 250}},
		{"QR", enc(gb18030, func(e *printer.Encoder) { e.QR("AB", 6, 'H') }), []byte{
			0x1d, '(', 'k', 4, 0, 49, 65, 50, 0,
			0x1d, '(', 'k', 3, 0, 49, 67, 6,
			0x1d, '(', 'k', 3, 0, 49, 69, 51,
			0x1d, '(', 'k', 5, 0, 49, 80, 48, 'A', 'B',
			0x1d, '(', 'k', 3, 0, 49, 81, 48}},
		{"CODE128", enc(gb18030, func(e *printer.Encoder) { e.Code128("A1\x00") }), []byte{
			0x1d, 'H', 2, 0x1d, 'h', 80, 0x1d, 'w', 2, 0x1d, 'k', 73, 4, '{', 'B', 'A', '1'}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, tc.got, tc.name)
	}

	img := image.NewGray(image.Rect(0, 0, 10, 2))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	img.Pix[0] = 0  // (0,0) black
	img.Pix[19] = 0 // (9,1) black
	got := enc(gb18030, func(e *printer.Encoder) { e.Raster(img) })
	assert.Equal(t, []byte{0x1d, 'v', '0', 0, 2, 0, 2, 0, 0x80, 0x00, 0x00, 0x40}, got)
	doc, err := printer.Interpret(got)
	require.NoError(t, err)
	require.Len(t, doc.Lines, 1)
	assert.Equal(t, "image", doc.Lines[0].Block)
	assert.Equal(t, uint8(0), doc.Lines[0].Image.GrayAt(9, 1).Y)
	assert.Equal(t, uint8(255), doc.Lines[0].Image.GrayAt(8, 1).Y)

	_, err = printer.LookupCharset("utf8")
	assert.Error(t, err)
}

func TestWrapAndWidth(t *testing.T) {
	assert.Equal(t, 4, printer.Width("中a1"))
	assert.Equal(t, 2, printer.Width("，"))
	assert.Equal(t, []string{"中中", "中ab"}, printer.Wrap("中中中ab", 4))
	assert.Equal(t, []string{"中", "中", "中a", "b"}, printer.Wrap("中中中ab", 3))
	assert.Equal(t, []string{""}, printer.Wrap("", 4))
	for _, s := range printer.Wrap(strings.Repeat("长", 50)+"x", 7) {
		assert.LessOrEqual(t, printer.Width(s), 7)
	}
}

func TestInterpretRejectsGarbage(t *testing.T) {
	for _, b := range [][]byte{{0x1b}, {0x1b, 'Z'}, {0x1d, 'k', 73, 9, 'a'}, {0x1d, '(', 'k', 200, 0}, {0x1c, 'x'}} {
		_, err := printer.Interpret(b)
		assert.Error(t, err, "% x", b)
	}
}

func FuzzInterpret(f *testing.F) {
	f.Add([]byte{0x1b, '@', 0x1c, '&', 0xd6, 0xd0, '\n'})
	f.Add([]byte{0x1d, 'v', '0', 0, 1, 0, 1, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := printer.Interpret(b)
		if err != nil {
			return
		}
		doc.Text(32)
	})
}

// TestPNGGolden draws a Chinese receipt with GNU Unifont and compares the
// decoded picture with the golden one, row by row.
func TestPNGGolden(t *testing.T) {
	font, err := printer.LoadFont()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	l := layout(t, 58)
	data, err := l.Receipt(paidPayment(), nil, false)
	require.NoError(t, err)
	doc, err := printer.Interpret(data)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, doc.PNG(font, l.Paper.Dots)))
	path := filepath.Join("testdata", "payment-58.png")
	if *update {
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	}
	got, err := png.Decode(&buf)
	require.NoError(t, err)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	want, err := png.Decode(f)
	require.NoError(t, err)
	require.Equal(t, want.Bounds(), got.Bounds())
	assert.Equal(t, 384, got.Bounds().Dx())
	ink := 0
	for y := 0; y < want.Bounds().Dy(); y++ {
		for x := 0; x < want.Bounds().Dx(); x++ {
			wr, _, _, _ := want.At(x, y).RGBA()
			gr, _, _, _ := got.At(x, y).RGBA()
			if wr != gr {
				t.Fatalf("pixel row %d differs from the golden image first at x=%d", y, x)
			}
			if gr == 0 {
				ink++
			}
		}
	}
	assert.Greater(t, ink, 2000, "the receipt has ink on it")
}

func TestLogo(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 16, 4))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	img.Pix[0] = 0
	path := filepath.Join(t.TempDir(), "logo.png")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img))
	f.Close()
	logo, err := printer.LoadLogo(path, printer.Paper58)
	require.NoError(t, err)
	l := layout(t, 58)
	l.Logo = logo
	data, err := l.Receipt(paidPayment(), nil, false)
	require.NoError(t, err)
	doc, err := printer.Interpret(data)
	require.NoError(t, err)
	assert.Equal(t, "image", doc.Lines[0].Block)
	assert.Equal(t, "16x4", doc.Lines[0].Data)

	wide := image.NewGray(image.Rect(0, 0, 400, 4))
	require.NoError(t, png.Encode(mustCreate(t, path), wide))
	_, err = printer.LoadLogo(path, printer.Paper58)
	assert.ErrorContains(t, err, "384")
	_, err = printer.LoadLogo(filepath.Join(t.TempDir(), "none.png"), printer.Paper58)
	assert.Error(t, err)
}

func mustCreate(t *testing.T, path string) *os.File {
	f, err := os.Create(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}
