package shouqianba_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/config"
	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/printer"
	"github.com/tillworks/posd/providers"
	"github.com/tillworks/posd/providers/shouqianba"
	"github.com/tillworks/posd/providers/shouqianba/sqbtest"
)

// TestActivateDefaultsDeviceID: two tills activated with the defaults
// (till_id "till-01" on both) get different device_ids, derived from their
// machine ids; before, both sent till-01 and the second was refused. The
// device_id is kept with the terminal and sent by its check-ins and pays.
func TestActivateDefaultsDeviceID(t *testing.T) {
	fake := sqbtest.New("", "")
	fake.AddActivationCode("11111111")
	fake.AddActivationCode("22222222")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	activate := func(machine, code string) (string, string, error) {
		restore := shouqianba.SetMachineID(func() (string, error) {
			if machine == "" {
				return "", errors.New("no machine id")
			}
			return machine, nil
		})
		defer restore()
		c, err := config.Parse("posd.toml", []byte(fmt.Sprintf("till_id = \"till-01\"\n[gateways.sqb]\ntype = \"shouqianba\"\nbase_url = %q\nvendor_sn = %q\nvendor_key = %q\napp_id = %q\nactivation_code = %q\n",
			srv.URL, fake.VendorSN, fake.VendorKey, fake.AppID, code)))
		require.NoError(t, err)
		secs, _ := c.Gateways()
		dir := t.TempDir()
		out, err := shouqianba.Type.Activate(context.Background(), secs[0], providers.Env{Name: "sqb", DataDir: dir, TillID: "till-01"})
		return out, dir, err
	}
	out1, dir1, err := activate("machine-a", "11111111")
	require.NoError(t, err)
	want := shouqianba.DefaultDeviceID("machine-a")
	assert.Regexp(t, `^posd-[0-9a-f]{16}$`, want)
	assert.Contains(t, out1, "device_id "+want+" (derived from this machine's id")
	assert.NotContains(t, out1, "machine-a", "the machine id itself is not shown or sent")
	out2, _, err := activate("machine-b", "22222222")
	require.NoError(t, err, "the second till with default settings is activated too")
	assert.NotEqual(t, out1, out2)

	term, err := shouqianba.TerminalFile{Path: shouqianba.TerminalPath(dir1, "sqb")}.Load()
	require.NoError(t, err)
	assert.Equal(t, want, term.DeviceID, "kept with the terminal")

	// Where the system has no machine id, till_id, and the output says so;
	// a second such till with the same till_id is refused, as every second
	// till was before.
	fake.AddActivationCode("33333333")
	fake.AddActivationCode("44444444")
	out3, _, err := activate("", "33333333")
	require.NoError(t, err)
	assert.Contains(t, out3, "device_id till-01 (till_id: this system has no machine id")
	_, _, err = activate("", "44444444")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DEVICE_ID_ALREADY_BOUND")
}

// TestCheckinRenamesTerminal: a check-in answer that names the terminal
// anew is taken, and every later request is signed as that terminal.
func TestCheckinRenamesTerminal(t *testing.T) {
	const sn, key = "100000330002383829", "68d499beda5f72116592f5c527465656"
	fake := sqbtest.New(sn, key)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	file := shouqianba.TerminalFile{Path: filepath.Join(t.TempDir(), "t.json")}
	c, err := shouqianba.New(shouqianba.Options{BaseURL: srv.URL, TillID: "till-01", Terminal: file, Initial: shouqianba.Terminal{SN: sn, Key: key}})
	require.NoError(t, err)
	fake.RenameOnCheckin(sn, "100000330009999999")
	_, err = c.Query(context.Background(), payflow.OrderRef{OrderNo: "x"})
	require.NoError(t, err)
	c.WaitCheckin()
	bad := fake.BadSignatures // the query beside the check-in may have raced the rename
	assert.Equal(t, "100000330009999999", c.Terminal().SN)
	saved, err := file.Load()
	require.NoError(t, err)
	assert.Equal(t, "100000330009999999", saved.SN, "saved with its key")
	o, err := c.Query(context.Background(), payflow.OrderRef{OrderNo: "x"})
	require.NoError(t, err)
	assert.Equal(t, payflow.NotFound, o.Kind, "signed as the renamed terminal, the gateway answers")
	assert.Equal(t, bad, fake.BadSignatures)
	assert.Equal(t, 50*time.Second, c.PayHold(), "pay_request_timeout's default: the engine's pay window is at least that")
	var _ payflow.PayHolder = c
}

// TestPaywayNames: every payway the vendor lists has a wallet, and every
// wallet a name on the receipt (7, 8, 15 and 16 printed as 其他 before).
func TestPaywayNames(t *testing.T) {
	for payway, name := range map[string]string{"1": "支付宝", "2": "支付宝", "3": "微信支付", "4": "百度钱包", "5": "京东钱包", "6": "QQ钱包",
		"7": "NFC支付", "8": "拉卡拉钱包", "15": "微信支付", "16": "招商银行", "17": "云闪付", "18": "翼支付", "19": "微信支付"} {
		assert.Equal(t, name, printer.ChannelName(shouqianba.Channel(payway)), "payway %s", payway)
	}
}
