package demo

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

// Config is a demo gateway's table: [gateways.<name>] type = "demo" (or
// the old [provider.demo]).
type Config struct {
	Type       string          `toml:"type"`
	GatewayURL string          `toml:"gateway_url"` // empty: run the simulator in-process
	Delay      config.Duration `toml:"delay"`       // how long the simulated customer takes to confirm
}

// Type is the demo gateway type, for the daemon's list.
var Type = providers.Type{Check: check, Open: open, Show: show}

func decodeConfig(sec config.GatewaySection) (Config, error) {
	c := Config{Delay: config.Duration{Duration: 1500 * time.Millisecond}}
	if err := sec.Decode(&c); err != nil {
		return c, err
	}
	if u := c.GatewayURL; u != "" {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return c, &config.Error{Key: sec.Key + ".gateway_url", Msg: fmt.Sprintf("must be an http:// or https:// URL, got %q", u)}
		}
	}
	if d := c.Delay.Duration; d < 0 || d > 24*time.Hour {
		return c, &config.Error{Key: sec.Key + ".delay", Msg: fmt.Sprintf("must be between 0s and 24h, got %v", d)}
	}
	return c, nil
}

func check(sec config.GatewaySection) error {
	_, err := decodeConfig(sec)
	return err
}

func show(sec config.GatewaySection) (any, error) { return decodeConfig(sec) }

// StatePath is where the in-process simulator of a demo gateway named
// name keeps its orders: demo-gateway.json for the gateway named demo,
// demo-<name>-gateway.json else.
func StatePath(dataDir, name string) string {
	if name == "demo" {
		return filepath.Join(dataDir, "demo-gateway.json")
	}
	return filepath.Join(dataDir, "demo-"+name+"-gateway.json")
}

func open(ctx context.Context, sec config.GatewaySection, env providers.Env) (payflow.Provider, error) {
	c, err := decodeConfig(sec)
	if err != nil {
		return nil, err
	}
	u := c.GatewayURL
	if u == "" {
		gw, err := NewGateway(StatePath(env.DataDir, env.Name), c.Delay.Duration)
		if err != nil {
			return nil, err
		}
		if u, err = Serve(ctx, gw, env.Log, env.Run); err != nil {
			return nil, err
		}
		env.Log.Info("demo gateway simulator running", "gateway", env.Name, "url", u)
	}
	return NewClient(u, 10*time.Second), nil
}
