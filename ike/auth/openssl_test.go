package auth

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/auth/authtest"
	"github.com/cygnet-ipsec/cygnet/ike/message"
	"github.com/cygnet-ipsec/cygnet/internal/vm/vmtest"
)

// Cross-check with an independent implementation (OpenSSL's libcrypto,
// which strongSwan's openssl plugin uses): signatures OpenSSL makes verify
// here under the RFC 7427 AlgorithmIdentifiers we parse, and signatures we
// make verify in OpenSSL with the parameters our AlgorithmIdentifiers
// announce.
func TestOpenSSLInterop(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		vmtest.RequireInstalled(t, fmt.Errorf("openssl not installed (Debian package openssl): %w", err))
	}
	k := testKeys(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	octetsF := write("octets", octets)
	tests := []struct {
		name  string
		key   string
		alg   sigAlg
		peer  []message.HashAlgorithm
		pss   bool
		sign  []string // openssl arguments to sign octetsF with key file K into S
		check []string // openssl arguments to verify octetsF with pub file P and signature S
	}{
		{"rsa pkcs1 sha256", "rsa", algRSASHA256, []message.HashAlgorithm{message.HashSHA2_256}, false,
			[]string{"dgst", "-sha256", "-sign", "K", "-out", "S", octetsF},
			[]string{"dgst", "-sha256", "-verify", "P", "-signature", "S", octetsF}},
		{"rsa pss sha256 salt 32", "rsa", algPSSSHA256, []message.HashAlgorithm{message.HashSHA2_256}, true,
			[]string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256", "-sign", "K", "-out", "S", octetsF},
			[]string{"dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256", "-verify", "P", "-signature", "S", octetsF}},
		{"rsa pss sha512 salt 64", "rsa", algPSSSHA512, []message.HashAlgorithm{message.HashSHA2_512}, true,
			[]string{"dgst", "-sha512", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:64", "-sigopt", "rsa_mgf1_md:sha512", "-sign", "K", "-out", "S", octetsF},
			[]string{"dgst", "-sha512", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:64", "-sigopt", "rsa_mgf1_md:sha512", "-verify", "P", "-signature", "S", octetsF}},
		{"ecdsa p384 sha384", "p384", algECDSASHA384, []message.HashAlgorithm{message.HashSHA2_384}, false,
			[]string{"dgst", "-sha384", "-sign", "K", "-out", "S", octetsF},
			[]string{"dgst", "-sha384", "-verify", "P", "-signature", "S", octetsF}},
		{"ed25519", "ed25519", algEd25519, []message.HashAlgorithm{message.HashIdentity}, false,
			[]string{"pkeyutl", "-sign", "-rawin", "-inkey", "K", "-out", "S", "-in", octetsF},
			[]string{"pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", "P", "-sigfile", "S", "-in", octetsF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keyF := write("key.pem", authtest.Must(authtest.KeyPEM(k[tt.key])))
			pubF := write("pub.pem", authtest.Must(authtest.PublicKeyPEM(k[tt.key].Public())))
			sigF := filepath.Join(dir, "sig")
			subst := func(args []string) []string {
				out := make([]string, len(args))
				for i, a := range args {
					switch a {
					case "K":
						a = keyF
					case "P":
						a = pubF
					case "S":
						a = sigF
					}
					out[i] = a
				}
				return out
			}

			// OpenSSL signs, we verify.
			if out, err := exec.Command(openssl, subst(tt.sign)...).CombinedOutput(); err != nil {
				t.Fatalf("openssl sign: %v\n%s", err, out)
			}
			sig, err := os.ReadFile(sigF)
			if err != nil {
				t.Fatal(err)
			}
			data := digitalSignature(tt.alg, sig)
			if err := Verify(k[tt.key].Public(), message.AuthDigitalSignature, data, octets); err != nil {
				t.Fatalf("OpenSSL's signature does not verify here: %v", err)
			}

			// We sign, OpenSSL verifies.
			m, ours, err := SignWithOptions(k[tt.key], octets, tt.peer, rand.Reader, Options{RSAPSS: tt.pss})
			if err != nil || m != message.AuthDigitalSignature {
				t.Fatalf("Sign: %v %v", m, err)
			}
			if n := int(ours[0]); string(ours[1:1+n]) != string(tt.alg.der) {
				t.Fatalf("Sign used another algorithm than %s", tt.alg.name)
			}
			write("sig", ours[1+int(ours[0]):])
			if out, err := exec.Command(openssl, subst(tt.check)...).CombinedOutput(); err != nil {
				t.Fatalf("openssl rejects our signature: %v\n%s", err, out)
			}
		})
	}
}
