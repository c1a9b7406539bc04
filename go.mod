module github.com/tillworks/posd

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/karalabe/hid v1.0.1-0.20240306101548-573246063e52
	github.com/kardianos/service v1.3.0
	github.com/stretchr/testify v1.12.1
	go.bug.st/serial v1.8.0
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sys v0.45.0
	golang.org/x/text v0.43.0
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	rsc.io/qr v0.2.0 // indirect
)
