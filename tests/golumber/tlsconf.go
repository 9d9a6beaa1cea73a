package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

func loadCertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate found", file)
	}
	return pool, nil
}

// clientTLSConfig returns nil when TLS is not requested.
func clientTLSConfig(addr, caFile, certFile, keyFile, serverName string, insecure bool) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" && serverName == "" && !insecure {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if caFile != "" {
		pool, err := loadCertPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("--tls-cert and --tls-key must be given together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if serverName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		serverName = host
	}
	cfg.ServerName = serverName
	return cfg, nil
}

// serverTLSConfig returns nil when TLS is not requested.
func serverTLSConfig(certFile, keyFile, clientCAFile, clientAuth string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if clientCAFile != "" {
			return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key")
		}
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("--tls-cert and --tls-key must be given together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if clientCAFile == "" {
		if clientAuth != "" && clientAuth != "none" {
			return nil, fmt.Errorf("--tls-client-auth %s needs --tls-client-ca", clientAuth)
		}
		return cfg, nil
	}
	pool, err := loadCertPool(clientCAFile)
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs = pool
	switch clientAuth {
	case "", "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	case "optional":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "none":
		cfg.ClientAuth = tls.NoClientCert
	default:
		return nil, fmt.Errorf("--tls-client-auth: want required, optional or none, got %q", clientAuth)
	}
	return cfg, nil
}
