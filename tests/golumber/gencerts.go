package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type gencertsOpts struct {
	dir     string
	hosts   string
	days    int
	keyType string
	cn      string
}

func runGencerts(args []string) int {
	var o gencertsOpts
	fs := flag.NewFlagSet("gencerts", flag.ContinueOnError)
	fs.StringVar(&o.dir, "dir", "", "output directory (created if missing; required)")
	fs.StringVar(&o.hosts, "hosts", "localhost,127.0.0.1,::1", "comma-separated DNS names / IP addresses for the server certificate")
	fs.IntVar(&o.days, "days", 365, "validity in days")
	fs.StringVar(&o.keyType, "key-type", "ecdsa", "ecdsa (P-256) or rsa (2048)")
	fs.StringVar(&o.cn, "cn-prefix", "golumber", "prefix of the subject common names")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if o.dir == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "gencerts: --dir DIR is required and no arguments are accepted")
		return 2
	}
	if o.keyType != "ecdsa" && o.keyType != "rsa" {
		fmt.Fprintln(os.Stderr, "gencerts: --key-type must be ecdsa or rsa")
		return 2
	}
	files, err := genCerts(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gencerts: %v\n", err)
		return 1
	}
	line, _ := json.Marshal(files)
	fmt.Fprintf(os.Stdout, "%s\n", line)
	return 0
}

type certFiles struct {
	CA         string `json:"ca"`
	CAKey      string `json:"ca_key"`
	ServerCert string `json:"server_cert"`
	ServerKey  string `json:"server_key"`
	ClientCert string `json:"client_cert"`
	ClientKey  string `json:"client_key"`
}

func newKey(kind string) (crypto.Signer, error) {
	if kind == "rsa" {
		return rsa.GenerateKey(rand.Reader, 2048)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
}

func genCerts(o gencertsOpts) (*certFiles, error) {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, err
	}
	notBefore := time.Now().Add(-time.Hour).UTC()
	notAfter := notBefore.Add(time.Duration(o.days) * 24 * time.Hour)

	caKey, err := newKey(o.keyType)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: o.cn + " test CA", Organization: []string{"ganymede tests"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	leaf := func(cn string, usage x509.ExtKeyUsage, hosts []string) ([]byte, crypto.Signer, error) {
		key, err := newKey(o.keyType)
		if err != nil {
			return nil, nil, err
		}
		sn, err := serial()
		if err != nil {
			return nil, nil, err
		}
		t := &x509.Certificate{
			SerialNumber:          sn,
			Subject:               pkix.Name{CommonName: cn, Organization: []string{"ganymede tests"}},
			NotBefore:             notBefore,
			NotAfter:              notAfter,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageDigitalSignature,
			ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		}
		if o.keyType == "rsa" {
			t.KeyUsage |= x509.KeyUsageKeyEncipherment
		}
		for _, h := range hosts {
			if ip := net.ParseIP(h); ip != nil {
				t.IPAddresses = append(t.IPAddresses, ip)
			} else {
				t.DNSNames = append(t.DNSNames, h)
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, t, caCert, key.Public(), caKey)
		return der, key, err
	}

	var hosts []string
	for _, h := range strings.Split(o.hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	srvDER, srvKey, err := leaf(o.cn+" server", x509.ExtKeyUsageServerAuth, hosts)
	if err != nil {
		return nil, err
	}
	// The client certificate also carries a DNS name: some verifiers want a SAN.
	cliDER, cliKey, err := leaf(o.cn+" client", x509.ExtKeyUsageClientAuth, []string{o.cn + "-client"})
	if err != nil {
		return nil, err
	}

	f := &certFiles{
		CA:         filepath.Join(o.dir, "ca.pem"),
		CAKey:      filepath.Join(o.dir, "ca.key"),
		ServerCert: filepath.Join(o.dir, "server.pem"),
		ServerKey:  filepath.Join(o.dir, "server.key"),
		ClientCert: filepath.Join(o.dir, "client.pem"),
		ClientKey:  filepath.Join(o.dir, "client.key"),
	}
	for _, w := range []struct {
		path string
		der  []byte
		key  crypto.Signer
	}{
		{f.CA, caDER, nil}, {f.CAKey, nil, caKey},
		{f.ServerCert, srvDER, nil}, {f.ServerKey, nil, srvKey},
		{f.ClientCert, cliDER, nil}, {f.ClientKey, nil, cliKey},
	} {
		var block *pem.Block
		mode := os.FileMode(0o644)
		if w.key != nil {
			pkcs8, err := x509.MarshalPKCS8PrivateKey(w.key)
			if err != nil {
				return nil, err
			}
			block = &pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}
			mode = 0o600
		} else {
			block = &pem.Block{Type: "CERTIFICATE", Bytes: w.der}
		}
		if err := os.WriteFile(w.path, pem.EncodeToMemory(block), mode); err != nil {
			return nil, err
		}
	}
	return f, nil
}
