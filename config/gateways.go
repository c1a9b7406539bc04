package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// GatewaySection is one gateway's table as the file writes it, for the
// gateway's own package to decode and validate (each gateway owns its
// keys, the way a Caddy module decodes its own configuration).
type GatewaySection struct {
	Name string // as configured: [gateways.<name>]; the type, in the old [provider] form
	Type string // demo, shouqianba, ...
	Key  string // where it is written, for messages: gateways.sqb, provider.shouqianba
	// Inactive marks an old-form [provider.<type>] table whose type
	// provider.name does not select: checked, never run.
	Inactive bool
	prim     *toml.Primitive
	md       *toml.MetaData
}

// Decode decodes the section into v, whose fields hold the defaults, and
// refuses keys v does not have, naming them.
func (s GatewaySection) Decode(v any) error {
	if s.prim == nil {
		return nil
	}
	if err := s.md.PrimitiveDecode(*s.prim, v); err != nil {
		if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
			key := m[2]
			if !strings.HasPrefix(key, s.Key+".") {
				key = s.Key + "." + key
			}
			return &Error{Key: key, Msg: fmt.Sprintf("line %s: %s", m[1], m[3])}
		}
		return &Error{Key: s.Key, Msg: err.Error()}
	}
	for _, k := range s.md.Undecoded() {
		if ks := k.String(); strings.HasPrefix(ks, s.Key+".") {
			return &Error{Key: ks, Msg: "unknown key for a gateway of type " + s.Type + "; see docs/configuration.md"}
		}
	}
	return nil
}

// Defined reports whether the section writes key (relative to it).
func (s GatewaySection) Defined(key string) bool {
	if s.md == nil {
		return false
	}
	return s.md.IsDefined(append(strings.Split(s.Key, "."), key)...)
}

// Routes are the [routing] rules: which gateway takes a new payment.
type Routes struct {
	Default   string
	Fallback  string
	ByChannel map[string]string
}

// Channels are the names [routing] takes for per-wallet routes: the
// wallets a payment code's shape tells apart.
var Channels = []string{"wechat", "alipay", "unionpay", "ecny"}

var gatewayName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// Gateways returns every configured gateway's section, by name, and the
// routing rules. The old form ([provider] name = "T" with [provider.T])
// is one gateway named after its type.
func (c *Config) Gateways() ([]GatewaySection, Routes) {
	return c.gateways, c.routes
}

// OldProviderForm reports whether the file uses the old [provider] form.
func (c *Config) OldProviderForm() bool { return c.oldForm }

// resolveGateways reads [gateways], [provider] and [routing] from what the
// decoder kept aside.
func (c *Config) resolveGateways(md *toml.MetaData) error {
	c.gateways, c.routes, c.oldForm = nil, Routes{ByChannel: map[string]string{}}, false
	legacy := len(c.RawProvider) > 0
	if legacy && len(c.RawGateways) > 0 {
		return &Error{Key: "provider", Msg: "use [gateways.<name>] or the old [provider], not both; see docs/configuration.md"}
	}
	if len(c.RawGateways) == 0 {
		return c.resolveOldForm(md)
	}
	names := make([]string, 0, len(c.RawGateways))
	for name := range c.RawGateways {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		key := "gateways." + name
		if !gatewayName.MatchString(name) {
			return &Error{Key: key, Msg: "a gateway's name is 1 to 32 lower-case letters, digits, - or _"}
		}
		prim := c.RawGateways[name]
		var t struct {
			Type string `toml:"type"`
		}
		if err := md.PrimitiveDecode(prim, &t); err != nil || t.Type == "" {
			return &Error{Key: key + ".type", Msg: "every gateway needs a type (demo, shouqianba, ...)"}
		}
		c.gateways = append(c.gateways, GatewaySection{Name: name, Type: t.Type, Key: key, prim: &prim, md: md})
	}
	for k, v := range c.Routing {
		switch {
		case k == "default":
			c.routes.Default = v
		case k == "fallback":
			c.routes.Fallback = v
		case contains(Channels, k):
			c.routes.ByChannel[k] = v
		default:
			return &Error{Key: "routing." + k, Msg: fmt.Sprintf("unknown key: use default, fallback or a wallet (%s)", strings.Join(Channels, ", "))}
		}
		if !c.hasGateway(v) {
			return &Error{Key: "routing." + k, Msg: fmt.Sprintf("names gateway %q, which is not configured", v)}
		}
	}
	if c.routes.Default == "" {
		if len(c.gateways) > 1 {
			return &Error{Key: "routing.default", Msg: "name the gateway that takes new payments when several are configured"}
		}
		c.routes.Default = c.gateways[0].Name
	}
	if c.routes.Fallback == c.routes.Default && c.routes.Fallback != "" {
		return &Error{Key: "routing.fallback", Msg: "must be another gateway than the default"}
	}
	return nil
}

// resolveOldForm maps [provider] name = "T" and its [provider.T] table
// onto one gateway named T. Tables of other types are checked, not run.
func (c *Config) resolveOldForm(md *toml.MetaData) error {
	c.oldForm = len(c.RawProvider) > 0
	if len(c.Routing) > 0 {
		return &Error{Key: "routing", Msg: "routing needs gateways written as [gateways.<name>]; see docs/configuration.md"}
	}
	name := "demo"
	if prim, ok := c.RawProvider["name"]; ok {
		if err := md.PrimitiveDecode(prim, &name); err != nil || name == "" {
			return &Error{Key: "provider.name", Msg: "must be a gateway type, e.g. \"shouqianba\""}
		}
	}
	seen := false
	keys := make([]string, 0, len(c.RawProvider))
	for k := range c.RawProvider {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "name" {
			continue
		}
		prim := c.RawProvider[k]
		c.gateways = append(c.gateways, GatewaySection{Name: k, Type: k, Key: "provider." + k, Inactive: k != name, prim: &prim, md: md})
		seen = seen || k == name
	}
	if !seen {
		c.gateways = append(c.gateways, GatewaySection{Name: name, Type: name, Key: "provider." + name, md: md})
	}
	sort.Slice(c.gateways, func(i, j int) bool { return c.gateways[i].Name < c.gateways[j].Name })
	c.routes.Default = name
	return nil
}

func (c *Config) hasGateway(name string) bool {
	for _, g := range c.gateways {
		if g.Name == name && !g.Inactive {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// NewFormHint is what config check prints for a file in the old form: the
// same gateway written the new way.
func (c *Config) NewFormHint() string {
	if !c.oldForm {
		return ""
	}
	d := c.routes.Default
	return fmt.Sprintf("[provider] is the old form and keeps working; the new form is [gateways.%s] with type = %q and the keys of [provider.%s] (see docs/configuration.md)", d, d, d)
}
