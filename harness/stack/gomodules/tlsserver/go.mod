// certchaos's workload: a small TLS server that serves the certificate of a Secret (stdlib only).
module certchaos.local/gomodules/tlsserver

go 1.21
