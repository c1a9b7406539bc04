package store_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/store"
)

// TestRecordFormat decodes a payment record as this journal schema writes
// it (testdata/payment-schema2.json, every field set) and encodes it
// again: a field renamed or retyped in payflow.Payment would come back
// different, instead of silently dropping data from existing journals.
// A deliberate change bumps store.SchemaVersion and adds a fixture.
func TestRecordFormat(t *testing.T) {
	require.Equal(t, 2, store.SchemaVersion, "a new schema needs its own fixture and an upgrade")
	b, err := os.ReadFile(filepath.Join("testdata", "payment-schema2.json"))
	require.NoError(t, err)
	var p payflow.Payment
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&p), "every key of the fixture is a field")
	again, err := json.Marshal(&p)
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(again))

	// And through the journal itself.
	s := open(t)
	_, err = s.Create(&p)
	require.NoError(t, err)
	got, err := s.Get(p.ID)
	require.NoError(t, err)
	back, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, string(b), string(back))
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
