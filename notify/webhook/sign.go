package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// secretPrefix starts every secret, as Standard Webhooks writes them: the
// rest is the key, in standard base64.
const secretPrefix = "whsec_"

// newSecret is a new random signing secret of 32 bytes.
func newSecret() (string, error) {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return "", err
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key[:]), nil
}

// Sign is the Standard Webhooks signature of a message by one secret:
// "v1," and the base64 HMAC-SHA256, keyed by the secret's bytes, of id,
// the unix timestamp and the body joined by dots.
func Sign(secret, id string, at time.Time, body []byte) (string, error) {
	sig, err := appendSignature(nil, secret, id, at, body)
	return string(sig), err
}

// appendSignature appends Sign's signature to b.
func appendSignature(b []byte, secret, id string, at time.Time, body []byte) ([]byte, error) {
	var buf [128]byte // the key (32 bytes as Tally makes them), then the message's head
	key, err := base64.StdEncoding.AppendDecode(buf[:0], []byte(strings.TrimPrefix(secret, secretPrefix)))
	if err != nil {
		return b, fmt.Errorf("webhook: secret: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(append(strconv.AppendInt(append(append(buf[:0], id...), '.'), at.Unix(), 10), '.'))
	mac.Write(body)
	var sum [sha256.Size]byte
	b = append(b, "v1,"...)
	return base64.StdEncoding.AppendEncode(b, mac.Sum(sum[:0])), nil
}

// signatures is the webhook-signature header: the signature by each
// secret, separated by spaces.
func signatures(secrets []string, id string, at time.Time, body []byte) (string, error) {
	b := make([]byte, 0, len(secrets)*48)
	for i, s := range secrets {
		if i > 0 {
			b = append(b, ' ')
		}
		var err error
		if b, err = appendSignature(b, s, id, at, body); err != nil {
			return "", err
		}
	}
	return string(b), nil
}
