package yima

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// Config is a Yima gateway's table: [gateways.<name>] type = "yima".
type Config struct {
	Type     string `toml:"type"`
	BaseURL  string `toml:"base_url"` // every request is POSTed here
	Isspid   string `toml:"isspid"`
	SystemID string `toml:"system_id"`
	StoreID  string `toml:"store_id"`
	PosID    string `toml:"pos_id"` // default: the till's till_id
	PosSN    string `toml:"pos_sn"`
	UserID   string `toml:"user_id"`
	Key      string `toml:"key"`
	Format   string `toml:"format"`      // json | xml
	Scheme   string `toml:"sign_scheme"` // see assume.go
	// VerifyAnswers: a JSON answer that confirms must carry a valid sign.
	VerifyAnswers     bool            `toml:"verify_answers"`
	InDoubtIDs        []string        `toml:"in_doubt_ids"`
	PayRequestTimeout config.Duration `toml:"pay_request_timeout"`
	CallTimeout       config.Duration `toml:"call_timeout"`
}

// Type is the Yima gateway type, for the daemon's list.
var Type = providers.Type{Check: check, Open: open, Show: show}

func decodeConfig(sec config.GatewaySection, tillID string) (Config, error) {
	c := Config{Format: FormatJSON, Scheme: DefaultScheme, VerifyAnswers: true, InDoubtIDs: append([]string(nil), defaultInDoubtIDs...),
		PayRequestTimeout: config.Duration{Duration: 60 * time.Second}, CallTimeout: config.Duration{Duration: 10 * time.Second}}
	if err := sec.Decode(&c); err != nil {
		return c, err
	}
	bad := func(key, msg string, a ...any) error {
		return &config.Error{Key: sec.Key + "." + key, Msg: fmt.Sprintf(msg, a...)}
	}
	if c.PosID == "" {
		c.PosID = tillID
	}
	if pu, err := url.Parse(c.BaseURL); c.BaseURL == "" || err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return c, bad("base_url", "must be the http:// or https:// address Yima gave for the iPOS interface, got %q", c.BaseURL)
	}
	switch {
	case c.Isspid == "" || len(c.Isspid) > 8:
		return c, bad("isspid", "the merchant number (翼码商户号, 8 characters) Yima assigned is required")
	case c.SystemID == "" || len(c.SystemID) > 4:
		return c, bad("system_id", "the platform number (系统平台号, 4 characters) Yima assigned is required")
	case c.StoreID == "" || len(c.StoreID) > 20:
		return c, bad("store_id", "the store number (门店号, at most 20 characters) bound at Yima is required")
	case c.PosID == "" || len(c.PosID) > 20:
		return c, bad("pos_id", "the terminal number (终端号, at most 20 characters) bound at Yima is required; it defaults to till_id")
	case len(c.UserID) > 20:
		return c, bad("user_id", "must be at most 20 characters")
	case len(c.PosSN) > 64:
		return c, bad("pos_sn", "must be at most 64 characters")
	case c.Format != FormatJSON && c.Format != FormatXML:
		return c, bad("format", `must be "json" or "xml" (GBK), got %q`, c.Format)
	case !ValidScheme(c.Scheme):
		return c, bad("sign_scheme", "must be one of %s (the one your Yima contract's section 2.1 describes), got %q", strings.Join(Schemes, ", "), c.Scheme)
	case c.Key == "" && c.Format == FormatJSON:
		return c, bad("key", "the signing key Yima assigned is required with format json")
	}
	for _, id := range c.InDoubtIDs {
		if len(id) != 4 || strings.Trim(id, "0123456789") != "" || confirming(id) {
			return c, bad("in_doubt_ids", "lists result ids of four digits other than 0000 and 9998, got %q", id)
		}
	}
	if d := c.PayRequestTimeout.Duration; d < 5*time.Second || d > 5*time.Minute {
		return c, bad("pay_request_timeout", "must be between 5s and 5m, got %v", d)
	}
	if d := c.CallTimeout.Duration; d < time.Second || d > 2*time.Minute {
		return c, bad("call_timeout", "must be between 1s and 2m, got %v", d)
	}
	return c, nil
}

func check(sec config.GatewaySection) error {
	_, err := decodeConfig(sec, "till")
	return err
}

func open(ctx context.Context, sec config.GatewaySection, env providers.Env) (payflow.Provider, error) {
	c, err := decodeConfig(sec, env.TillID)
	if err != nil {
		return nil, err
	}
	return New(Options{BaseURL: c.BaseURL, Isspid: c.Isspid, SystemID: c.SystemID, StoreID: c.StoreID, PosID: c.PosID,
		PosSN: c.PosSN, UserID: c.UserID, Key: c.Key, Format: c.Format, Scheme: c.Scheme, VerifyAnswers: c.VerifyAnswers,
		InDoubtIDs: c.InDoubtIDs, PayTimeout: c.PayRequestTimeout.Duration, CallTimeout: c.CallTimeout.Duration, Logger: env.Log})
}

func show(sec config.GatewaySection) (any, error) {
	c, err := decodeConfig(sec, "(till_id)")
	if c.Key != "" {
		c.Key = "(set)"
	}
	return c, err
}
