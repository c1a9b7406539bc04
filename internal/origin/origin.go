// Package origin reads browser origins as posd's API allows them
// (api.allowed_origins) and tells this machine's host names: the rules the
// configuration checks and the API applies, in one place both import.
package origin

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Origin is one api.allowed_origins entry, normalized: a browser origin
// (scheme://host[:port], the port dropped where it is the scheme's
// default), "http://localhost:*" style with any port on a loopback host,
// "null" (file:// pages and sandboxed frames send it; opt-in, see
// docs/web-ui.md), or an app's own scheme (Electron's app://…).
type Origin struct {
	Scheme, Host, Port string // Port "*": any; "" with http/https: the default
	Null               bool
}

// String is the normalized form.
func (o Origin) String() string {
	if o.Null {
		return "null"
	}
	s := o.Scheme + "://" + o.Host
	if o.Port != "" {
		s += ":" + o.Port
	}
	return s
}

// Parse reads an allowed_origins entry. It refuses what can never
// match a browser's Origin header (a path, a file: URL, a bare host) and
// what would let any page in (*, a port wildcard on a host that is not
// this machine).
func Parse(s string) (Origin, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "null":
		return Origin{Null: true}, nil
	case "*":
		return Origin{}, fmt.Errorf("%q would let every web page on the internet use the till's payments: list the cash register's own origin", s)
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" || rest == "" {
		return Origin{}, fmt.Errorf("%q is not an origin: write scheme://host[:port], like http://localhost:3000", s)
	}
	scheme = strings.ToLower(scheme)
	for _, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return Origin{}, fmt.Errorf("%q has no valid scheme", s)
		}
	}
	if scheme == "file" {
		return Origin{}, fmt.Errorf("%q never matches: a file:// page sends the origin \"null\"; allow \"null\" (docs/web-ui.md says what that lets in)", s)
	}
	rest = strings.TrimSuffix(rest, "/")
	if strings.ContainsAny(rest, "/?#@") {
		return Origin{}, fmt.Errorf("%q never matches: an origin has no path, query or user (browsers send scheme://host:port only)", s)
	}
	host, port := rest, ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.HasSuffix(rest, "]") {
		host, port = rest[:i], rest[i+1:]
	}
	host = strings.ToLower(host)
	if host == "" {
		return Origin{}, fmt.Errorf("%q has no host", s)
	}
	web := scheme == "http" || scheme == "https"
	switch {
	case port == "*":
		if !web || !IsLoopbackHost(host) {
			return Origin{}, fmt.Errorf("%q: a port wildcard is allowed only for http(s) on this machine (localhost, 127.0.0.1, [::1])", s)
		}
	case port != "":
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return Origin{}, fmt.Errorf("%q: port %q is not a port", s, port)
		}
		if (scheme == "http" && n == 80) || (scheme == "https" && n == 443) {
			port = "" // browsers leave the default port out of the Origin header
		} else {
			port = strconv.Itoa(n)
		}
	}
	if web {
		if _, err := url.Parse(scheme + "://" + host); err != nil {
			return Origin{}, fmt.Errorf("%q: %v", s, err)
		}
	}
	return Origin{Scheme: scheme, Host: host, Port: port}, nil
}

// Match reports whether a browser's Origin header is this one.
func (o Origin) Match(origin string) bool {
	got, err := Parse(origin)
	if err != nil || got.Port == "*" {
		return false
	}
	if o.Null || got.Null {
		return o.Null && got.Null
	}
	return got.Scheme == o.Scheme && got.Host == o.Host && (o.Port == "*" || got.Port == o.Port)
}

// IsLoopbackHost reports whether host (a name or an address, without port)
// is this machine: localhost, *.localhost, 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
