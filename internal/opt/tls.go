package opt

import "crypto/tls"

// HasCertificate reports whether a TLS server config can present a
// certificate: Certificates, GetCertificate or GetConfigForClient. Without
// one every handshake fails, so listener and tlsupgrade refuse it up front.
func HasCertificate(cfg *tls.Config) bool {
	return cfg != nil && (len(cfg.Certificates) > 0 || cfg.GetCertificate != nil || cfg.GetConfigForClient != nil)
}
