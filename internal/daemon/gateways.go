package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
	"github.com/tillworks/posd/providers/demo"
	"github.com/tillworks/posd/providers/fufu"
	"github.com/tillworks/posd/providers/shouqianba"
	"github.com/tillworks/posd/providers/yima"
)

// gatewayTypes are the gateways this build speaks. Adding one is its
// package and one line here.
var gatewayTypes = map[string]providers.Type{
	"demo":       demo.Type,
	"fufu":       fufu.Type,
	"yima":       yima.Type,
	"shouqianba": shouqianba.Type,
}

// GatewayType is the gateway type a [gateways.<name>] section names, or a
// configuration error listing the types this build speaks.
func GatewayType(sec config.GatewaySection) (providers.Type, error) {
	t, ok := gatewayTypes[sec.Type]
	if !ok {
		names := make([]string, 0, len(gatewayTypes))
		for n := range gatewayTypes {
			names = append(names, n)
		}
		sort.Strings(names)
		key := sec.Key + ".type"
		if sec.Key == "provider."+sec.Type {
			key = "provider.name"
		}
		return t, &config.Error{Key: key, Msg: fmt.Sprintf("%q is not a gateway this build supports (supported: %s)", sec.Type, strings.Join(names, ", "))}
	}
	return t, nil
}

// CheckGateways has each gateway's package check its own table.
func CheckGateways(cfg *config.Config) error {
	secs, _ := cfg.Gateways()
	for _, sec := range secs {
		t, err := GatewayType(sec)
		if err != nil {
			return err
		}
		if err := t.Check(sec); err != nil {
			return err
		}
	}
	return nil
}

// buildGateways opens every configured gateway (not the old form's unused
// tables) and the routing rules for the engine. What a gateway runs in the
// background (the demo's simulator) goes through run, so that Run waits
// for it.
func buildGateways(ctx context.Context, cfg *config.Config, log *slog.Logger, run func(func())) (payflow.Gateways, error) {
	if err := CheckGateways(cfg); err != nil {
		return payflow.Gateways{}, err
	}
	secs, routes := cfg.Gateways()
	g := payflow.Gateways{ByName: map[string]payflow.Provider{}, Default: routes.Default, ByChannel: routes.ByChannel, Fallback: routes.Fallback}
	for _, sec := range secs {
		if sec.Inactive {
			continue
		}
		t, _ := GatewayType(sec)
		p, err := t.Open(ctx, sec, providers.Env{Name: sec.Name, DataDir: cfg.DataDir, TillID: cfg.TillID, Log: log, Go: run})
		if err != nil {
			return g, err
		}
		g.ByName[sec.Name] = p
	}
	return g, g.Validate()
}
