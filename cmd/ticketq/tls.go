package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
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
// work, bench, stats, backup) authenticates: --token and --ca, read from
// TICKETQ_TOKEN and TICKETQ_CA when absent. The variables are read after
// parsing (cmdFlags.parse), so --help never prints a secret taken from the
// environment.
type accessFlags struct {
	token, ca *string
}

func addAccessFlags(fs *cmdFlags) *accessFlags {
	a := &accessFlags{
		token: fs.String("token", "", "bearer token for a server with tokens; prefer the variable, which ps does not show"),
		ca:    fs.String("ca", "", "PEM file of the CA that signed an https:// server's certificate, trusted instead of the system's roots"),
	}
	fs.doc("token", "TOKEN", "TICKETQ_TOKEN")
	fs.doc("ca", "FILE", "TICKETQ_CA")
	return a
}

// clientAccess is what the flags resolve to.
type clientAccess struct {
	token string
	tls   *tls.Config // nil: the system's roots
}

// resolve loads the CA.
func (a *accessFlags) resolve() (clientAccess, error) {
	acc := clientAccess{token: *a.token}
	if ca := *a.ca; ca != "" {
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
