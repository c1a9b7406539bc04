package machineid

import (
	"errors"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestID(t *testing.T) {
	id, err := ID()
	if runtime.GOOS != "linux" || errors.Is(err, ErrUnavailable) {
		t.Skipf("no machine id here: %v", err)
	}
	assert.NoError(t, err)
	assert.NotContains(t, id, "\n")
	again, _ := ID()
	assert.Equal(t, id, again, "stable")
}
