package fufu

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// Config is a FuFu gateway's table: [gateways.<name>] type = "fufu".
type Config struct {
	Type              string          `toml:"type"`
	BaseURL           string          `toml:"base_url"` // with its path prefix: calls go to <base_url>/<op>
	BusiID            string          `toml:"busi_id"`
	Key               string          `toml:"key"`
	StoreID           string          `toml:"store_id"`
	FeeType           string          `toml:"fee_type"`
	TimeZone          string          `toml:"time_zone"`
	PayHold           config.Duration `toml:"pay_hold"` // how long the gateway holds a pay before revoking it (the document: 80 s)
	PayRequestTimeout config.Duration `toml:"pay_request_timeout"`
	CallTimeout       config.Duration `toml:"call_timeout"`
}

// Type is the FuFu gateway type, for the daemon's list.
var Type = providers.Type{Check: check, Open: open, Show: show}

func decodeConfig(sec config.GatewaySection) (Config, error) {
	c := Config{BaseURL: DefaultBaseURL, FeeType: "CNY", TimeZone: "Asia/Shanghai", PayHold: config.Duration{Duration: PayHold},
		PayRequestTimeout: config.Duration{Duration: PayHold + 5*time.Second}, CallTimeout: config.Duration{Duration: 10 * time.Second}}
	if err := sec.Decode(&c); err != nil {
		return c, err
	}
	bad := func(key, msg string, a ...any) error {
		return &config.Error{Key: sec.Key + "." + key, Msg: fmt.Sprintf(msg, a...)}
	}
	if pu, err := url.Parse(c.BaseURL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return c, bad("base_url", "must be an http:// or https:// URL with the gateway's path, got %q", c.BaseURL)
	}
	switch {
	case c.BusiID == "" || len(c.BusiID) > 32:
		return c, bad("busi_id", "the merchant number (商户编号) FuFu assigned is required, at most 32 characters")
	case c.Key == "":
		return c, bad("key", "the merchant key FuFu assigned is required")
	case len(c.StoreID) > 32:
		return c, bad("store_id", "must be at most 32 characters")
	case c.FeeType != "CNY":
		return c, bad("fee_type", "posd takes payments in CNY only, got %q", c.FeeType)
	}
	if _, err := Location(c.TimeZone); err != nil {
		return c, bad("time_zone", "%v", err)
	}
	if d := c.PayHold.Duration; d < time.Second || d > 5*time.Minute {
		return c, bad("pay_hold", "must be between 1s and 5m, got %v", d)
	}
	if !sec.Defined("pay_request_timeout") {
		c.PayRequestTimeout.Duration = c.PayHold.Duration + 5*time.Second
	}
	if d := c.PayRequestTimeout.Duration; d < c.PayHold.Duration || d > 5*time.Minute {
		return c, bad("pay_request_timeout", "must be between pay_hold (%v: the gateway holds a pay that long) and 5m, got %v", c.PayHold.Duration, d)
	}
	if d := c.CallTimeout.Duration; d < time.Second || d > 2*time.Minute {
		return c, bad("call_timeout", "must be between 1s and 2m, got %v", d)
	}
	return c, nil
}

func check(sec config.GatewaySection) error {
	_, err := decodeConfig(sec)
	return err
}

func open(ctx context.Context, sec config.GatewaySection, env providers.Env) (payflow.Provider, error) {
	c, err := decodeConfig(sec)
	if err != nil {
		return nil, err
	}
	return New(Options{BaseURL: c.BaseURL, BusiID: c.BusiID, Key: c.Key, StoreID: c.StoreID, FeeType: c.FeeType,
		TimeZone: c.TimeZone, TillID: env.TillID, Hold: c.PayHold.Duration, PayTimeout: c.PayRequestTimeout.Duration, CallTimeout: c.CallTimeout.Duration,
		Logger: env.Log})
}

func show(sec config.GatewaySection) (any, error) {
	c, err := decodeConfig(sec)
	if c.Key != "" {
		c.Key = "(set)"
	}
	return c, err
}
