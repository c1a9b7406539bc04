package shouqianba

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"

	"github.com/tillworks/posd/providers"
)

// Sign is Shouqianba's transport signature: the MD5 of the request body's
// bytes followed by the key, in lowercase hex. Callers sign exactly the
// bytes they send.
func Sign(body []byte, key string) string {
	h := md5.New()
	h.Write(body)
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil))
}

// str is a response value: the vendor says every value is a string;
// providers.Str also takes numbers, booleans and null, so that a gateway
// that changes its mind cannot break the parser.
type str = providers.Str

// envelope is every answer: the communication result and the business
// answer. Unknown fields are ignored.
type envelope struct {
	ResultCode   str          `json:"result_code"`
	ErrorCode    str          `json:"error_code"`
	ErrorMessage str          `json:"error_message"`
	BizResponse  *bizResponse `json:"biz_response"`
}

type bizResponse struct {
	ResultCode   str        `json:"result_code"`
	ErrorCode    str        `json:"error_code"`
	ErrorMessage str        `json:"error_message"`
	Data         *orderData `json:"data"`
	// activate and checkin answer these directly in biz_response.
	TerminalSN  str `json:"terminal_sn"`
	TerminalKey str `json:"terminal_key"`
}

type orderData struct {
	SN          str `json:"sn"`
	ClientSN    str `json:"client_sn"`
	TradeNo     str `json:"trade_no"`
	Status      str `json:"status"`
	OrderStatus str `json:"order_status"`
	Payway      str `json:"payway"`
	SubPayway   str `json:"sub_payway"`
	TotalAmount str `json:"total_amount"`
	NetAmount   str `json:"net_amount"`
	QRCode      str `json:"qr_code"`
}

// Requests. Amounts are fen as decimal strings, as the vendor requires.
type (
	payBody struct {
		TerminalSN  string `json:"terminal_sn"`
		ClientSN    string `json:"client_sn"`
		TotalAmount string `json:"total_amount"`
		DynamicID   string `json:"dynamic_id"`
		Subject     string `json:"subject"`
		Operator    string `json:"operator"`
		DeviceID    string `json:"device_id,omitempty"`
	}
	precreateBody struct {
		TerminalSN  string `json:"terminal_sn"`
		ClientSN    string `json:"client_sn"`
		TotalAmount string `json:"total_amount"`
		Payway      string `json:"payway"`
		Subject     string `json:"subject"`
		Operator    string `json:"operator"`
		DeviceID    string `json:"device_id,omitempty"`
	}
	orderBody struct {
		TerminalSN string `json:"terminal_sn"`
		SN         string `json:"sn,omitempty"`
		ClientSN   string `json:"client_sn,omitempty"`
	}
	refundBody struct {
		TerminalSN      string `json:"terminal_sn"`
		SN              string `json:"sn,omitempty"`
		ClientSN        string `json:"client_sn"`
		RefundRequestNo string `json:"refund_request_no"`
		Operator        string `json:"operator"`
		RefundAmount    string `json:"refund_amount"`
	}
	activateBody struct {
		AppID    string `json:"app_id"`
		Code     string `json:"code"`
		DeviceID string `json:"device_id"`
	}
	checkinBody struct {
		TerminalSN string `json:"terminal_sn"`
		DeviceID   string `json:"device_id"`
	}
)

func fen(n int64) string { return strconv.FormatInt(n, 10) }
