package wixsimtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// KeyPair stands for the app's key pair of the Wix dashboard in tests of
// the Refresh Payload round trip: the simulator signs with Private
// (wixsim.WithTriggerProvider, or lifecycle wixsim
// --trigger-provider-key-file PrivatePEMFile); the app verifies with the
// public key (lifecycle serve --wix-public-key-file PublicPEMFile).
type KeyPair struct {
	Private *rsa.PrivateKey
	// PublicPEM is the public key as a PKIX "PUBLIC KEY" PEM block, the
	// form `openssl rsa -pubout` writes and the Wix dashboard shows.
	PublicPEM []byte
	// PrivatePEMFile holds the private key as a PKCS #8 "PRIVATE KEY" PEM
	// block (what `openssl genrsa` writes since OpenSSL 3).
	PrivatePEMFile string
	// PublicPEMFile holds PublicPEM.
	PublicPEMFile string
}

// NewKeyPair generates a 2048-bit RSA key pair and writes both halves as
// PEM files in a directory of t's that is removed after the test.
func NewKeyPair(t testing.TB) KeyPair {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	require.NoError(t, err)
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	dir := t.TempDir()
	kp := KeyPair{
		Private:        key,
		PublicPEM:      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		PrivatePEMFile: filepath.Join(dir, "wix-app-private.pem"),
		PublicPEMFile:  filepath.Join(dir, "wix-app-public.pem"),
	}
	require.NoError(t, os.WriteFile(kp.PublicPEMFile, kp.PublicPEM, 0o644))
	require.NoError(t, os.WriteFile(kp.PrivatePEMFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), 0o600))
	return kp
}
