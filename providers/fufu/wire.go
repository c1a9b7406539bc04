package fufu

import "github.com/tillworks/posd/providers"

type str = providers.Str

// envelope is every answer: the request's result and, when it was
// accepted, the operation's data.
type envelope struct {
	Result struct {
		ReturnCode str `json:"return_code"`
		ReturnMsg  str `json:"return_msg"`
	} `json:"result"`
	Data *data `json:"data"`
}

// data is the union of the operations' answers; unknown fields are
// ignored (the gateway adds them without notice).
type data struct {
	ReturnCode     str `json:"return_code"`
	ReturnMsg      str `json:"return_msg"`
	ChannelType    str `json:"channel_type"`
	OutTradeNo     str `json:"out_trade_no"`
	TradeNo        str `json:"trade_no"`
	ChannelTradeNo str `json:"channel_trade_no"`
	TotalFee       str `json:"total_fee"`
	FeeType        str `json:"fee_type"`
	State          str `json:"state"`
	Credit         str `json:"credit"`
	OutRefundNo    str `json:"out_refund_no"`
	RefundNo       str `json:"refund_no"`
	RefundFee      str `json:"refund_fee"`
	TradeStatus    str `json:"trade_status"`
	QRCode         str `json:"qr_code"`
}

// Requests. Amounts are integers in fen; the document's examples quote
// them, its tables say Integer: posd sends numbers.
type (
	orderBody struct {
		BusiID      string `json:"busi_id"`
		OperatorID  string `json:"operator_id,omitempty"`
		TerminalID  string `json:"terminal_id,omitempty"`
		StoreID     string `json:"store_id,omitempty"`
		TotalFee    int64  `json:"total_fee"`
		ChannelType int    `json:"channel_type"`
		AuthCode    string `json:"auth_code"`
		OutTradeNo  string `json:"out_trade_no"`
		PaySubject  string `json:"pay_subject"`
		FeeType     string `json:"fee_type"`
		TimeZone    string `json:"time_zone,omitempty"`
	}
	preOrderBody struct {
		BusiID      string `json:"busi_id"`
		OperatorID  string `json:"operator_id,omitempty"`
		StoreID     string `json:"store_id,omitempty"`
		TotalFee    int64  `json:"total_fee"`
		ChannelType int    `json:"channel_type"`
		OutTradeNo  string `json:"out_trade_no"`
		PaySubject  string `json:"pay_subject"`
		FeeType     string `json:"fee_type"`
		TradeType   string `json:"trade_type"`
		TimeZone    string `json:"time_zone,omitempty"`
	}
	refOrderBody struct {
		BusiID     string `json:"busi_id"`
		OperatorID string `json:"operator_id,omitempty"`
		TerminalID string `json:"terminal_id,omitempty"`
		OutTradeNo string `json:"out_trade_no"`
		TradeNo    string `json:"trade_no,omitempty"`
		TimeZone   string `json:"time_zone,omitempty"`
	}
	refundBody struct {
		BusiID        string `json:"busi_id"`
		OperatorID    string `json:"operator_id"`
		TerminalID    string `json:"terminal_id"`
		RefundFee     int64  `json:"refund_fee"`
		RefundSubject string `json:"refund_subject"`
		OutTradeNo    string `json:"out_trade_no"`
		TradeNo       string `json:"trade_no,omitempty"`
		OutRefundNo   string `json:"out_refund_no"`
		FeeType       string `json:"fee_type"`
		TimeZone      string `json:"time_zone,omitempty"`
	}
)
