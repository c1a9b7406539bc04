//go:build windows

package daemon

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// secureDataDir limits the data directory to SYSTEM and Administrators:
// it holds the journal and the API token.
func secureDataDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString("D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
	if err != nil {
		return err
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return err
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("restricting %s to SYSTEM and Administrators: %w", dir, err)
	}
	return nil
}
