package daemon

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cygnet-ipsec/cygnet/ike"
	"github.com/cygnet-ipsec/cygnet/internal/vici"
)

// Credentials loaded over VICI (swanctl --load-creds: the private,
// rsa, ecdsa and pkcs8 directories, x509 and x509ca, x509crl) live beside
// those of ipsec.secrets and ipsec.d, as shared keys do. clear-creds drops
// all of them (keys, certificates, shared keys), as charon's does.

// viciKey is a private key loaded with load-key; id is its key id as
// charon reports it: the SHA-1 of the public key's subjectPublicKey bits
// (hex), which get-keys lists and unload-key takes.
type viciKey struct {
	id  string
	key crypto.Signer
}

// viciCreds are the certificates and keys loaded over VICI.
type viciCreds struct {
	keys  []viciKey
	certs []*x509.Certificate // end-entity certificates (flag NONE)
	cas   []*x509.Certificate // trust anchors (flag CA, or a CA certificate loaded with NONE)
	crls  []*x509.RevocationList
}

func (c viciCreds) clone() viciCreds {
	return viciCreds{keys: slices.Clone(c.keys), certs: slices.Clone(c.certs), cas: slices.Clone(c.cas),
		crls: slices.Clone(c.crls)}
}

// addTo appends the VICI credentials to a configuration's.
func (c viciCreds) addTo(creds *ike.Credentials) {
	creds.PrivateKeys = slices.Clone(creds.PrivateKeys)
	for _, k := range c.keys {
		creds.PrivateKeys = append(creds.PrivateKeys, k.key)
	}
	creds.Certs = slices.Clone(creds.Certs)
	for _, x := range c.certs {
		creds.Certs = appendNewCert(creds.Certs, x)
	}
	creds.CACerts = slices.Clone(creds.CACerts)
	for _, x := range c.cas {
		creds.CACerts = appendNewCert(creds.CACerts, x)
	}
	creds.CRLs = append(slices.Clone(creds.CRLs), c.crls...)
}

func appendNewCert(list []*x509.Certificate, c *x509.Certificate) []*x509.Certificate {
	if slices.ContainsFunc(list, c.Equal) {
		return list
	}
	return append(list, c)
}

// keyID is charon's KEYID_PUBKEY_SHA1 of a public key: the SHA-1 of the
// subjectPublicKey BIT STRING's contents (for RSA the PKCS#1 public key,
// for ECDSA the point), RFC 5280 4.2.1.2's method 1.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("daemon: key id: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return "", fmt.Errorf("daemon: key id: %w", err)
	}
	sum := sha1.Sum(spki.Key.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// parseVICIKey parses load-key's data (DER as swanctl sends it, or PEM):
// PKCS#8, PKCS#1 or SEC 1. typ is load-key's type: rsa, ecdsa, ed25519,
// or any (swanctl's private and pkcs8 directories).
func parseVICIKey(typ string, data []byte) (crypto.Signer, error) {
	if b, _ := pem.Decode(data); b != nil {
		if strings.Contains(b.Type, "ENCRYPTED") || b.Headers["Proc-Type"] != "" {
			return nil, fmt.Errorf("daemon: encrypted private keys are not supported over vici (swanctl decrypts them)")
		}
		data = b.Bytes
	}
	var key any
	if k, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		key = k
	} else if k, err := x509.ParseECPrivateKey(data); err == nil {
		key = k
	} else {
		return nil, fmt.Errorf("daemon: not a PKCS#1, SEC 1 or PKCS#8 private key")
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("daemon: unsupported private key type %T", key)
	}
	var have string
	switch s.(type) {
	case *rsa.PrivateKey:
		have = "rsa"
	case *ecdsa.PrivateKey:
		have = "ecdsa"
	case ed25519.PrivateKey:
		have = "ed25519"
	default:
		return nil, fmt.Errorf("daemon: unsupported private key type %T", key)
	}
	switch t := strings.ToLower(typ); t {
	case "any", "private", "pkcs8", have:
	case "rsa", "ecdsa", "ed25519":
		return nil, fmt.Errorf("daemon: the key is %s, not %s", have, t)
	default:
		return nil, fmt.Errorf("daemon: key type %q is not supported (rsa, ecdsa, ed25519 or any)", typ)
	}
	return s, nil
}

// viciCredHandlers installs the credential commands and rekey.
func (d *Daemon) viciCredHandlers(s *vici.Server) {
	s.Handle("load-key", d.viciLoadKey)
	s.Handle("unload-key", d.viciUnloadKey)
	s.Handle("get-keys", func(context.Context, *vici.Stream, *vici.Message) *vici.Message {
		d.vici.mu.Lock()
		defer d.vici.mu.Unlock()
		ids := []string{}
		for _, k := range d.vici.creds.keys {
			ids = append(ids, k.id)
		}
		return vici.NewMessage().SetList("keys", ids)
	})
	s.Handle("load-cert", d.viciLoadCert)
	s.Handle("clear-creds", d.viciClearCreds)
	s.Handle("rekey", d.viciRekey)
	s.Handle("list-policies", d.viciListPols)
	s.Handle("list-certs", d.viciListCerts)
	// cygnet keeps no certificate cache (no fetched CRLs or OCSP
	// responses): there is nothing to flush.
	s.Handle("flush-certs", func(context.Context, *vici.Stream, *vici.Message) *vici.Message { return ok() })
}

// viciListCerts streams a list-cert event per X.509 certificate the
// engine holds (from ipsec.d and loaded over VICI): end entities with flag
// NONE, trust anchors with CA; type, flag and subject filter as charon's.
func (d *Daemon) viciListCerts(_ context.Context, st *vici.Stream, req *vici.Message) *vici.Message {
	if t := strings.ToUpper(req.Get("type")); t != "" && t != "ANY" && t != "X509" {
		return vici.NewMessage()
	}
	flagFilter := strings.TrimPrefix(strings.ToUpper(req.Get("flag")), "X509_")
	subject := req.Get("subject")
	d.mu.Lock()
	creds := d.loaded.Config.Credentials
	d.mu.Unlock()
	emit := func(c *x509.Certificate, flag string) bool {
		if flagFilter != "" && flagFilter != "ANY" && flagFilter != flag {
			return true
		}
		if subject != "" && subject != certDN(c) {
			return true
		}
		m := vici.NewMessage().Set("type", "X509").Set("flag", flag)
		if hasPrivateKey(creds.PrivateKeys, c.PublicKey) {
			m.Set("has_privkey", "yes")
		}
		return st.Emit("list-cert", m.Set("data", string(c.Raw))) == nil
	}
	for _, c := range creds.Certs {
		if !emit(c, "NONE") {
			return vici.NewMessage()
		}
	}
	for _, c := range creds.CACerts {
		if !emit(c, "CA") {
			break
		}
	}
	return vici.NewMessage()
}

func hasPrivateKey(keys []crypto.Signer, pub crypto.PublicKey) bool {
	for _, k := range keys {
		if p, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool }); ok && p.Equal(pub) {
			return true
		}
	}
	return false
}

// viciChangeCreds applies change to a copy of the VICI credentials and
// gives the engine the result; on failure nothing changes.
func (d *Daemon) viciChangeCreds(change func(c *viciCreds) error) error {
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	prev := d.vici.creds
	next := prev.clone()
	if err := change(&next); err != nil {
		return err
	}
	d.vici.creds = next
	if err := d.viciApply(); err != nil {
		d.vici.creds = prev
		return err
	}
	return nil
}

func (d *Daemon) viciLoadKey(_ context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
	typ, data := req.Get("type"), req.Get("data")
	if data == "" {
		return fail("data: missing")
	}
	key, err := parseVICIKey(typ, []byte(data))
	if err != nil {
		return fail("loading private key failed: %v", err)
	}
	id, err := keyID(key.Public())
	if err != nil {
		return fail("%v", err)
	}
	err = d.viciChangeCreds(func(c *viciCreds) error {
		if i := slices.IndexFunc(c.keys, func(k viciKey) bool { return k.id == id }); i >= 0 {
			c.keys[i].key = key
		} else {
			c.keys = append(c.keys, viciKey{id, key})
		}
		return nil
	})
	if err != nil {
		return fail("%v", err)
	}
	d.log.Info("vici: private key loaded", "id", id, "type", typ)
	return ok().Set("id", id)
}

func (d *Daemon) viciUnloadKey(_ context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
	id := strings.ToLower(strings.ReplaceAll(req.Get("id"), ":", ""))
	err := d.viciChangeCreds(func(c *viciCreds) error {
		i := slices.IndexFunc(c.keys, func(k viciKey) bool { return k.id == id })
		if i < 0 {
			return fmt.Errorf("key '%s' not found", req.Get("id"))
		}
		c.keys = slices.Delete(c.keys, i, i+1)
		return nil
	})
	if err != nil {
		return fail("%v", err)
	}
	return ok()
}

// viciLoadCert takes load-cert's type X509 (flag NONE or CA) and
// X509_CRL. Attribute certificates, OCSP signers and raw public keys are
// refused by name.
func (d *Daemon) viciLoadCert(_ context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
	data := []byte(req.Get("data"))
	if len(data) == 0 {
		return fail("data: missing")
	}
	typ := strings.ToUpper(req.Get("type"))
	flag := strings.TrimPrefix(strings.ToUpper(req.Get("flag")), "X509_")
	var change func(c *viciCreds) error
	switch typ {
	case "X509":
		certs, err := parseCerts([]string{string(data)})
		if err != nil {
			return fail("parsing %s certificate failed: %v", typ, err)
		}
		cert := certs[0]
		switch flag {
		case "", "NONE", "ANY":
			change = func(c *viciCreds) error {
				if cert.IsCA && cert.CheckSignatureFrom(cert) == nil {
					c.cas = appendNewCert(c.cas, cert)
				} else {
					c.certs = appendNewCert(c.certs, cert)
				}
				return nil
			}
		case "CA":
			if !cert.IsCA {
				return fail("CA certificate '%s' misses ca basic constraint", certDN(cert))
			}
			change = func(c *viciCreds) error {
				c.cas = appendNewCert(c.cas, cert)
				return nil
			}
		default:
			return fail("flag: %q certificates are not supported (NONE and CA are)", req.Get("flag"))
		}
	case "X509_CRL", "CRL":
		if b, _ := pem.Decode(data); b != nil {
			data = b.Bytes
		}
		crl, err := x509.ParseRevocationList(data)
		if err != nil {
			return fail("parsing CRL failed: %v", err)
		}
		change = func(c *viciCreds) error {
			c.crls = append(c.crls, crl)
			return nil
		}
	default:
		return fail("type: %q certificates are not supported (X509 and X509_CRL are)", req.Get("type"))
	}
	if err := d.viciChangeCreds(change); err != nil {
		return fail("%v", err)
	}
	return ok()
}

func certDN(c *x509.Certificate) string {
	return ike.Identity{Type: 9, Data: c.RawSubject}.String() // 9: ID_DER_ASN1_DN
}

func (d *Daemon) viciClearCreds(context.Context, *vici.Stream, *vici.Message) *vici.Message {
	d.vici.mu.Lock()
	defer d.vici.mu.Unlock()
	prevCreds, prevShared := d.vici.creds, d.vici.shared
	d.vici.creds, d.vici.shared = viciCreds{}, nil
	if err := d.viciApply(); err != nil {
		d.vici.creds, d.vici.shared = prevCreds, prevShared
		return fail("%v", err)
	}
	d.log.Info("vici: credentials cleared")
	return ok()
}

// viciRekey starts rekeying IKE_SAs or CHILD_SAs selected by config name
// (ike, child) or unique id (ike-id, child-id); reauth=yes
// reauthenticates an IKE_SA instead. Like charon it answers once the
// exchanges are started, with how many SAs matched.
func (d *Daemon) viciRekey(_ context.Context, _ *vici.Stream, req *vici.Message) *vici.Message {
	parseID := func(k string) (uint32, error) {
		v := req.Get(k)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("%s: %q is not a unique id", k, v)
		}
		return uint32(n), nil
	}
	ikeID, err := parseID("ike-id")
	if err != nil {
		return fail("%v", err)
	}
	childID, err := parseID("child-id")
	if err != nil {
		return fail("%v", err)
	}
	reauth, err := swBool(orString(req.Get("reauth"), "no"))
	if err != nil {
		return fail("reauth: %v", err)
	}
	child, ikeName := req.Get("child"), req.Get("ike")
	n := 0
	switch {
	case childID != 0:
		n = d.engine.RekeyChild("", childID)
	case child != "":
		name, err := d.viciConnOfChild(child, ikeName)
		if err != nil {
			return fail("%v", err)
		}
		n = d.engine.RekeyChild(name, 0)
	case ikeID != 0:
		n = d.engine.RekeyIKE("", ikeID, reauth)
	case ikeName != "":
		if _, err := d.viciConnOfChild("", ikeName); err != nil {
			return fail("%v", err)
		}
		n = d.engine.RekeyIKE(ikeName, 0, reauth)
	default:
		return fail("missing configuration name or unique id")
	}
	if n == 0 {
		return fail("no matching SAs to rekey found").Set("matches", "0")
	}
	return ok().Set("matches", strconv.Itoa(n))
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// viciListPols streams a list-policy event per routed (trap) connection,
// as charon's list-policies does by default (trap policies only; cygnet has
// no shunts).
func (d *Daemon) viciListPols(_ context.Context, st *vici.Stream, req *vici.Message) *vici.Message {
	if req.Get("trap") != "yes" && (req.Get("drop") == "yes" || req.Get("pass") == "yes") {
		return vici.NewMessage() // only shunts asked for: cygnet has none
	}
	filter, ikeFilter := req.Get("child"), req.Get("ike")
	for _, name := range d.engine.RoutedNames() {
		if ikeFilter != "" && ikeFilter != name {
			continue
		}
		c := d.connByName(name)
		if c == nil {
			continue
		}
		child := d.viciChildName(name)
		if filter != "" && filter != child {
			continue
		}
		m := vici.NewMessage().Set("child", child).Set("ike", name).Set("mode", strings.ToUpper(c.Mode.String())).
			SetList("local-ts", []string{policyTS(c.Local)}).SetList("remote-ts", []string{policyTS(c.Remote)})
		if err := st.Emit("list-policy", vici.NewMessage().SetSection(name+"/"+child, m)); err != nil {
			break
		}
	}
	return vici.NewMessage()
}

// policyTS is a trap policy's selector as charon prints it: the end's
// address as a host prefix, with the protocol and port when narrowed.
func policyTS(ep ike.Endpoint) string {
	addr := "dynamic"
	if ep.Addr.IsValid() {
		addr = fmt.Sprintf("%s/%d", ep.Addr, ep.Addr.BitLen())
	}
	if ep.ProtoPort.Any() {
		return addr
	}
	return addr + strings.TrimPrefix(tsView(ep.ProtoPort), "dynamic")
}
