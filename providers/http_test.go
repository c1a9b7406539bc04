package providers_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tillworks/posd/payflow"
	"github.com/tillworks/posd/providers"
)

func TestPostTellsNotSentFromLost(t *testing.T) {
	// A port nobody listens on: connect fails, nothing was sent. Port 1
	// (tcpmux) is privileged and unused: a port freed by the test itself
	// could be handed to one of the servers below, or to another test.
	dead := "http://127.0.0.1:1"

	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	}))
	defer drop.Close()
	stop := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer slow.Close()
	defer close(stop)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"result":"ERROR"}`))
	}))
	defer ok.Close()

	c := &http.Client{}
	tests := []struct {
		name    string
		url     string
		timeout time.Duration
		notSent bool
		status  int
	}{
		{"connection refused", dead, time.Second, true, 0},
		{"dropped after the request was read", drop.URL, time.Second, false, 0},
		{"timed out waiting for the answer", slow.URL, 100 * time.Millisecond, false, 0},
		{"an HTTP error is an answer", ok.URL, time.Second, false, 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			status, body, err := providers.Post(ctx, c, tc.url+"/x", nil, []byte(`{}`))
			assert.Equal(t, tc.status, status)
			if tc.status != 0 {
				require.NoError(t, err)
				assert.JSONEq(t, `{"result":"ERROR"}`, string(body))
				return
			}
			require.Error(t, err)
			assert.Equal(t, tc.notSent, errors.Is(err, payflow.ErrNotSent), err.Error())
		})
	}
}

func TestGatewayErrorText(t *testing.T) {
	err := &providers.GatewayError{Gateway: "demo", Status: 500, Code: "X", Message: "boom"}
	assert.Equal(t, "demo gateway answered HTTP 500 X: boom", err.Error())
}
