package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/ticketq/ticketq/client"
)

// loadServerTLS loads the certificate and key that `serve` answers HTTPS
// with, or returns nil for plain HTTP when neither is given. TLS 1.2 is the
// oldest version offered; Go's defaults pick the cipher suites. A renewed
// certificate takes effect at the next start.
func loadServerTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "" || keyFile == "":
		return nil, errors.New("--tls-cert and --tls-key go together: give both to serve HTTPS, or neither for HTTP")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// accessFlags are the flags with which a client command (submit, status,
// work, bench) authenticates: --token and --ca, with TICKETQ_TOKEN and
// TICKETQ_CA as their defaults. The token's default is applied after
// parsing, so that --help never prints a secret taken from the environment.
type accessFlags struct {
	token, ca *string
}

func addAccessFlags(fs *flag.FlagSet) *accessFlags {
	return &accessFlags{
		token: fs.String("token", "", "bearer token for a server with tokens (env TICKETQ_TOKEN, which, unlike a flag, ps does not show)"),
		ca:    fs.String("ca", "", "PEM file of the CA that signed an https:// server's certificate, trusted instead of the system's roots (env TICKETQ_CA)"),
	}
}

// clientAccess is what the flags resolve to.
type clientAccess struct {
	token string
	tls   *tls.Config // nil: the system's roots
}

// resolve applies the environment to flags left empty and loads the CA.
func (a *accessFlags) resolve(env map[string]string) (clientAccess, error) {
	acc := clientAccess{token: *a.token}
	if acc.token == "" {
		acc.token = env["TICKETQ_TOKEN"]
	}
	ca := *a.ca
	if ca == "" {
		ca = env["TICKETQ_CA"]
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return clientAccess{}, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return clientAccess{}, fmt.Errorf("--ca %s: no PEM certificate in the file", ca)
		}
		acc.tls = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	return acc, nil
}

// options are the client options of acc.
func (acc clientAccess) options() client.Options {
	return client.Options{Token: acc.token, TLSConfig: acc.tls}
}
