package yima

// This file holds every assumption posd makes about the parts of Yima's
// iPOS interface that its documents (shared/spec/yima-*.txt) do not give:
// the signature rule (their "section 2.1"), the barcode-pay request (4.2)
// and the query request. Each is named here, with what it rests on, and
// repeated in docs/providers/yima.md; nothing else in the package guesses.
// A merchant whose contract says otherwise changes the configuration
// (sign_scheme, in_doubt_ids, verify_answers) or this file, nothing else.

// Requests and answers posd exchanges. The documented ones are the cancel,
// the refund by cash fee and the unified order. The pay and query names
// rest on the family's naming (<name>_request / <name>_response) as public
// pages of the same interface show it for barcode_query_request.
const (
	reqPay          = "barcode_pay_request"             // assumed: document 4.2 is not available
	reqQuery        = "barcode_query_request"           // public pages of the family
	reqCancel       = "barcode_cancel_request"          // yima-barcode-cancel.txt
	reqRefund       = "barcode_refundbycashfee_request" // yima-barcode-refundbycashfee.txt
	reqUnifiedOrder = "unifiedorder_request"            // yima-unifiedorder.txt
)

// responseType is the answer's response_type for a request: the request's
// name with _request replaced by _response, as every documented pair is.
func responseType(req string) string {
	return req[:len(req)-len("_request")] + "_response"
}

// codeField is the pay request's node for the scanned payment code. The
// issue's reading of the family (and the other aggregators' common name)
// is auth_code; document 4.2, which would say, is not available.
const codeField = "auth_code"

// The sign schemes posd offers, since section 2.1 is missing. Published
// sample signatures are 32 upper-case hex characters: an upper-case MD5.
// What is signed, by assumption: the JSON message exactly as sent, without
// its "sign" member (posd appends "sign" last), and for an answer the
// received bytes with the "sign" member cut out.
//
//	md5_body_key      MD5(body + key)
//	md5_key_body_key  MD5(key + body + key)
//	md5_sorted        MD5(k1=v1&k2=v2&…&key=KEY): the top-level members but
//	                  sign, with non-empty values, sorted by name; a nested
//	                  object's value is its compact JSON text
//
// XML messages carry no sign: the documents require it for JSON only.
const (
	SchemeBodyKey    = "md5_body_key"
	SchemeKeyBodyKey = "md5_key_body_key"
	SchemeSorted     = "md5_sorted"
)

// DefaultScheme is the sign_scheme when none is configured.
const DefaultScheme = SchemeBodyKey

// defaultInDoubtIDs are result ids posd takes as "the gateway failed, the
// request may have been carried out" rather than as a refusal: 9999, the
// code aggregators of this family use for a system exception. Unverified;
// the configuration's in_doubt_ids replaces the list.
var defaultInDoubtIDs = []string{"9999"}

// The pay_type codes the documents list, and the wallet posd records.
// 504, 507/508 and 514 come from public pages of the family; 514's wallet
// is not named there.
var payTypes = map[string]string{
	"502": "alipay",
	"503": "wechat",
	"504": "bestpay", // 翼支付
	"507": "cmpay",   // 和包
	"508": "cmpay",   // 和包
	"512": "unionpay",
	"514": "other",
	"515": "wechat", // 微信小程序
	"516": "ecny",
	"519": "member", // 会员余额
	"521": "other",  // 聚分期
}

// resInfo names the per-channel answer block for a pay_type, where the
// documents name it; for any other pay_type posd reads the one block
// named *_res_info the answer carries (new channels appear without
// notice), and none if it carries several.
var resInfo = map[string]string{
	"502": "alipay_res_info",
	"503": "wxpay_res_info",
	"512": "upay_res_info",
	"515": "wxapp_res_info",
	"519": "balpay_res_info",
	"521": "jfqpay_res_info",
}

// The wallets' own codes that Yima passes on in detail_error_code and that
// decide an answer (the wallets' published codes: Alipay ACQ.*, WeChat
// Pay's upper-case ones). Assumed: Yima's documents show the field, not
// its values.
var (
	detailNotFound = []string{"ACQ.TRADE_NOT_EXIST", "ORDERNOTEXIST", "TRADE_NOT_EXIST"}
	detailPaying   = []string{"USERPAYING", "WAIT_BUYER_PAY"}
	detailClosed   = []string{"ACQ.TRADE_HAS_CLOSE", "TRADE_CLOSED", "ORDERCLOSED", "ORDERREVERSED", "REVOKED", "PAYERROR"}
)

// posSeqMin is the documented lower bound on a pos_seq: longer than 12
// characters. posd's order numbers (26 digits) and refund numbers (20)
// meet it; a cancel's and a query's own pos_seq is the order's number and
// six random digits (32, the documented maximum).
const posSeqMin = 13
