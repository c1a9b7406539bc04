package strictjson_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/internal/strictjson"
)

type inner struct {
	SN     string `json:"sn"`
	Amount int64  `json:"total_amount"`
}

type answer struct {
	ResultCode string            `json:"result_code"`
	Data       *inner            `json:"data"`
	List       []inner           `json:"list"`
	Extra      map[string]string `json:"extra"`
	Raw        opaque            `json:"raw"`
	Untagged   string
}

// opaque decodes itself: its keys are not matched to fields, but
// duplicates inside it are still refused.
type opaque string

func (o *opaque) UnmarshalJSON(b []byte) error { *o = opaque(b); return nil }

func TestCheck(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"plain", `{"result_code":"200","data":{"sn":"1","total_amount":5},"list":[{"sn":"2"}],"extra":{"a":"b"},"Untagged":"x"}`, true},
		{"unknown keys are not its business", `{"result_code":"200","new_field":{"x":1}}`, true},
		{"duplicate at the top", `{"result_code":"PAY_IN_PROGRESS","result_code":"PAY_SUCCESS"}`, false},
		{"keys differing in case", `{"result_code":"PAY_IN_PROGRESS","RESULT_CODE":"PAY_SUCCESS"}`, false},
		{"a lone key in the wrong case", `{"RESULT_CODE":"PAY_SUCCESS"}`, false},
		{"kelvin sign folds like k", `{"extra":{"k":"1","\u212a":"2"}}`, false},
		{"duplicate nested", `{"data":{"sn":"1","sn":"2"}}`, false},
		{"wrong case nested", `{"data":{"SN":"1"}}`, false},
		{"duplicate in an array element", `{"list":[{"sn":"1"},{"sn":"2","sn":"3"}]}`, false},
		{"duplicate map key", `{"extra":{"a":"1","a":"2"}}`, false},
		{"map keys in two cases", `{"extra":{"a":"1","A":"2"}}`, false},
		{"map keys may be any case", `{"extra":{"ABC":"1"}}`, true},
		{"duplicate inside an opaque value", `{"raw":{"x":1,"x":2}}`, false},
		{"any case inside an opaque value", `{"raw":{"X":1}}`, true},
		{"duplicate in an unknown field", `{"new":{"x":1,"x":2}}`, false},
		{"untagged field in another case", `{"untagged":"x"}`, false},
		{"same key in sibling objects", `{"data":{"sn":"1"},"list":[{"sn":"1"}]}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a answer
			err := strictjson.Check([]byte(tc.in), &a)
			if tc.ok {
				require.NoError(t, err)
				require.NoError(t, strictjson.Unmarshal([]byte(tc.in), &a))
				return
			}
			require.ErrorIs(t, err, strictjson.ErrAmbiguous)
			assert.ErrorIs(t, strictjson.Unmarshal([]byte(tc.in), &a), strictjson.ErrAmbiguous)
		})
	}
}

func TestCheckSyntax(t *testing.T) {
	var a answer
	for _, in := range []string{``, `{`, `{"a":}`, `[1,`, `{"a":1,}`} {
		assert.Error(t, strictjson.Check([]byte(in), &a), in)
	}
	assert.NoError(t, strictjson.Check([]byte(`null`), &a))
	assert.NoError(t, strictjson.Check([]byte(`{"x":1}`), nil))
}

// FuzzCheck: Check never panics, and whatever it accepts encoding/json
// decodes to the same value as it would with keys matched exactly.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"result_code":"200","data":{"sn":"1"}}`, `{"a":1,"a":2}`, `[{"sn":1}]`, `{"RESULT_CODE":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a answer
		if strictjson.Check(b, &a) != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return
		}
		// No two keys of the top object fold together.
		seen := map[string]bool{}
		for k := range m {
			for o := range seen {
				require.False(t, k != o && equalFold(k, o), "%q and %q accepted together", k, o)
			}
			seen[k] = true
		}
	})
}

func equalFold(a, b string) bool { return strings.EqualFold(a, b) }
