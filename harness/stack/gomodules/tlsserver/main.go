// tlsserver: the workload of certchaos's reload scenarios. It serves HTTPS with the certificate of a
// Kubernetes Secret, read from mounted files or from environment variables, and either loads it once at
// start (-mode once) or reloads it when the mounted files change (-mode reload: it polls the target of
// the volume's `..data` symlink, which the kubelet swaps atomically, and the files' content, so a subPath
// mount, which has no `..data`, is watched too). GET /healthz answers 200 with the serial it serves
// (the readiness probe); -protocol http serves plain HTTP instead (a pod that does not speak TLS).
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

type server struct {
	mu      sync.RWMutex
	current *tls.Certificate
	serial  string
	pem     []byte // cert + key as last loaded, to see a change of content
}

func (s *server) load(cert, key []byte, why string) error {
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.current, s.serial, s.pem = &pair, fmt.Sprintf("%x", leaf.SerialNumber), append(append([]byte{}, cert...), key...)
	s.mu.Unlock()
	log.Printf("loaded certificate serial=%x notAfter=%s (%s)", leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339), why)
	return nil
}

func (s *server) state() (string, []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.serial, s.pem
}

// watch polls the files every interval; a new `..data` target or new content is reloaded. A file that
// cannot be read or parsed mid-swap is retried at the next poll, the old certificate stays served.
func (s *server) watch(dir, certPath, keyPath string, interval time.Duration) {
	target, _ := os.Readlink(filepath.Join(dir, "..data"))
	for range time.Tick(interval) {
		now, _ := os.Readlink(filepath.Join(dir, "..data"))
		cert, errC := os.ReadFile(certPath)
		key, errK := os.ReadFile(keyPath)
		if errC != nil || errK != nil {
			log.Printf("reload: cannot read the files yet: %v %v", errC, errK)
			continue
		}
		_, loaded := s.state()
		if now == target && bytes.Equal(loaded, append(append([]byte{}, cert...), key...)) {
			continue
		}
		why := fmt.Sprintf("files changed, ..data %q -> %q", target, now)
		if err := s.load(cert, key, why); err != nil {
			log.Printf("reload: %v (keeping the old certificate)", err)
			continue
		}
		target = now
	}
}

func printFileSerial(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	block, _ := pem.Decode(data)
	if block == nil {
		fmt.Fprintf(os.Stderr, "%s: no PEM block\n", path)
		return 1
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		return 1
	}
	fmt.Printf("%x\n", cert.SerialNumber)
	return 0
}

func main() {
	listen := flag.String("listen", ":8443", "address to serve on")
	source := flag.String("source", "files", "where the certificate comes from: files, or env (PEM in TLS_CRT and TLS_KEY)")
	certPath := flag.String("cert", "/tls/tls.crt", "certificate file (source files)")
	keyPath := flag.String("key", "/tls/tls.key", "key file (source files)")
	mode := flag.String("mode", "once", "once: load at start only; reload: reload when the files change")
	interval := flag.Duration("poll", time.Second, "how often -mode reload looks at the files")
	protocol := flag.String("protocol", "https", "https, or http (plain: a server that does not speak TLS)")
	printSerial := flag.String("print-serial", "", "print the serial of the certificate in this file and exit "+
		"(what the harness execs to see the file the kubelet projected into the pod)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.LUTC)
	if *printSerial != "" {
		os.Exit(printFileSerial(*printSerial))
	}

	s := &server{}
	var cert, key []byte
	var err error
	switch *source {
	case "files":
		if cert, err = os.ReadFile(*certPath); err == nil {
			key, err = os.ReadFile(*keyPath)
		}
	case "env":
		cert, key = []byte(os.Getenv("TLS_CRT")), []byte(os.Getenv("TLS_KEY"))
		if len(cert) == 0 || len(key) == 0 {
			err = fmt.Errorf("TLS_CRT and TLS_KEY must both hold PEM")
		}
	default:
		err = fmt.Errorf("-source %q: expected files or env", *source)
	}
	if err == nil && *mode != "once" && *mode != "reload" {
		err = fmt.Errorf("-mode %q: expected once or reload", *mode)
	}
	if err == nil && *mode == "reload" && *source != "files" {
		err = fmt.Errorf("-mode reload needs -source files (the environment of a process never changes)")
	}
	if err == nil {
		err = s.load(cert, key, "start, source "+*source)
	}
	if err != nil {
		log.Fatalf("tlsserver: %v", err)
	}
	if *mode == "reload" {
		go s.watch(filepath.Dir(*certPath), *certPath, *keyPath, *interval)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		serial, _ := s.state()
		fmt.Fprintf(w, "ok serial=%s\n", serial)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, TLSConfig: &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return s.current, nil
		}}}
	log.Printf("serving %s on %s (mode %s, source %s)", *protocol, *listen, *mode, *source)
	if *protocol == "http" {
		log.Fatal(srv.ListenAndServe())
	}
	log.Fatal(srv.ListenAndServeTLS("", ""))
}
