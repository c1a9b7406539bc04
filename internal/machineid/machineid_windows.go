package machineid

import (
	"fmt"

	"golang.org/x/sys/windows/registry"
)

// read reads the MachineGuid Windows creates at installation.
func read() (string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Cryptography`, registry.QUERY_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer k.Close()
	v, _, err := k.GetStringValue("MachineGuid")
	if err != nil {
		return "", fmt.Errorf("%w: MachineGuid: %w", ErrUnavailable, err)
	}
	return v, nil
}
