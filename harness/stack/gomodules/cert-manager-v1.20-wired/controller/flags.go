package main

import (
	"strings"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	defaults "github.com/cert-manager/cert-manager/internal/apis/config/controller/v1alpha1"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/spf13/pflag"

	"github.com/cert-manager/cert-manager/certchaos-wired/wiring"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	cliflag "k8s.io/component-base/cli/flag"
)

// addFlags binds the flags v1.20's controller documents (`controller --help`; the names and meanings are
// the contract, the help text is ours) to the fields of c, each defaulting to the release's default that c holds.
func addFlags(fs *pflag.FlagSet, c *config.ControllerConfiguration) {
	s, b, d, i := fs.StringVar, fs.BoolVar, fs.DurationVar, fs.IntVar
	list := fs.StringSliceVar
	le, shim := &c.LeaderElectionConfig, &c.IngressShimConfig
	http01, dns01, pem := &c.ACMEHTTP01Config, &c.ACMEDNS01Config, &c.PEMSizeLimitsConfig

	s(&c.APIServerHost, "master", c.APIServerHost, "the API server's address (default: from the kubeconfig or in-cluster)")
	s(&c.KubeConfig, "kubeconfig", c.KubeConfig, "path to a kubeconfig; only out of cluster")
	fs.Float32Var(&c.KubernetesAPIQPS, "kube-api-qps", c.KubernetesAPIQPS, "queries per second to the API server, at most")
	i(&c.KubernetesAPIBurst, "kube-api-burst", c.KubernetesAPIBurst, "burst of queries to the API server, at most")
	s(&c.ClusterResourceNamespace, "cluster-resource-namespace", c.ClusterResourceNamespace,
		"namespace of the resources that cluster-scoped ones (ClusterIssuers) own")
	s(&c.Namespace, "namespace", c.Namespace, "watch this namespace only (ClusterIssuers off); default: all namespaces")

	b(&le.Enabled, "leader-elect", le.Enabled, "elect one leader among the controller's replicas")
	s(&le.Namespace, "leader-election-namespace", le.Namespace, "namespace of the leader election Lease")
	d(&le.LeaseDuration, "leader-election-lease-duration", le.LeaseDuration,
		"how long a candidate waits after the last renewal seen before taking the lease")
	d(&le.RenewDeadline, "leader-election-renew-deadline", le.RenewDeadline,
		"how long the leader keeps trying to renew before it stops leading")
	d(&le.RetryPeriod, "leader-election-retry-period", le.RetryPeriod, "interval between acquire or renew attempts")

	list(&c.Controllers, "controllers", c.Controllers, "controllers to run: '*' the default ones, 'foo' only foo, "+
		"'*,-foo' all but foo; all: "+strings.Join(defaults.AllControllers, ", "))

	s(&http01.SolverImage, "acme-http01-solver-image", http01.SolverImage, "image of the HTTP-01 solver pods")
	s(&http01.SolverResourceRequestCPU, "acme-http01-solver-resource-request-cpu", http01.SolverResourceRequestCPU,
		"CPU request of the HTTP-01 solver pods")
	s(&http01.SolverResourceRequestMemory, "acme-http01-solver-resource-request-memory",
		http01.SolverResourceRequestMemory, "memory request of the HTTP-01 solver pods")
	s(&http01.SolverResourceLimitsCPU, "acme-http01-solver-resource-limits-cpu", http01.SolverResourceLimitsCPU,
		"CPU limit of the HTTP-01 solver pods")
	s(&http01.SolverResourceLimitsMemory, "acme-http01-solver-resource-limits-memory", http01.SolverResourceLimitsMemory,
		"memory limit of the HTTP-01 solver pods")
	b(&http01.SolverRunAsNonRoot, "acme-http01-solver-run-as-non-root", http01.SolverRunAsNonRoot,
		"run the HTTP-01 solver pods as non-root")
	list(&http01.SolverNameservers, "acme-http01-solver-nameservers", http01.SolverNameservers,
		"host:port of the DNS servers the HTTP-01 self check resolves with")

	b(&c.ClusterIssuerAmbientCredentials, "cluster-issuer-ambient-credentials", c.ClusterIssuerAmbientCredentials,
		"ClusterIssuers may use credentials from the environment (e.g. AWS's default chain)")
	b(&c.IssuerAmbientCredentials, "issuer-ambient-credentials", c.IssuerAmbientCredentials,
		"Issuers may use credentials from the environment (e.g. AWS's default chain)")

	list(&shim.DefaultAutoCertificateAnnotations, "auto-certificate-annotations", shim.DefaultAutoCertificateAnnotations,
		"annotations by which an Ingress asks ingress-shim for a Certificate")
	list(&shim.ExtraCertificateAnnotations, "extra-certificate-annotations", shim.ExtraCertificateAnnotations,
		"annotations ingress-shim copies onto the Certificates it makes")
	s(&shim.DefaultIssuerName, "default-issuer-name", shim.DefaultIssuerName, "ingress-shim's issuer when an Ingress names none")
	s(&shim.DefaultIssuerKind, "default-issuer-kind", shim.DefaultIssuerKind, "kind of that issuer")
	s(&shim.DefaultIssuerGroup, "default-issuer-group", shim.DefaultIssuerGroup, "group of that issuer")

	list(&dns01.RecursiveNameservers, "dns01-recursive-nameservers", dns01.RecursiveNameservers,
		"host:port or DoH URLs of the resolvers the DNS-01 self check asks")
	b(&dns01.RecursiveNameserversOnly, "dns01-recursive-nameservers-only", dns01.RecursiveNameserversOnly,
		"the DNS-01 self check asks only those resolvers, never the authoritative servers")
	d(&dns01.CheckRetryPeriod, "dns01-check-retry-period", dns01.CheckRetryPeriod,
		"interval between propagation checks (DNS-01 and HTTP-01)")

	b(&c.EnableCertificateOwnerRef, "enable-certificate-owner-ref", c.EnableCertificateOwnerRef,
		"a Certificate owns its Secret (deleted with it)")
	b(&c.EnableGatewayAPI, "enable-gateway-api", c.EnableGatewayAPI, "the Gateway API integration (with its feature gate)")
	b(&c.EnableGatewayAPIListenerSet, "enable-gateway-api-listenerset", c.EnableGatewayAPIListenerSet,
		"ListenerSet support (with its feature gate)")
	list(&c.CopiedAnnotationPrefixes, "copied-annotation-prefixes", c.CopiedAnnotationPrefixes,
		"annotation prefixes copied from Certificates to CertificateRequests and Orders ('-p' excludes p)")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates",
		"key=value feature gates:\n"+strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), "\n"))

	i(&c.NumberOfConcurrentWorkers, "concurrent-workers", c.NumberOfConcurrentWorkers, "workers per controller")
	i(&c.MaxConcurrentChallenges, "max-concurrent-challenges", c.MaxConcurrentChallenges,
		"challenges being processed at once, at most")

	s(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "host:port of the metrics endpoint")
	b(&c.EnablePprof, "enable-profiling", c.EnablePprof, "serve Go's profiler")
	s(&c.PprofAddress, "profiler-address", c.PprofAddress, "host:port of the profiler")
	wiring.AddMetricsTLSFlags(fs, &c.MetricsTLSConfig)

	// Hidden in the release too: the liveness probe's server.
	s(&c.HealthzListenAddress, "internal-healthz-listen-address", c.HealthzListenAddress,
		"host:port of the healthz server (/livez)")
	utilruntime.Must(fs.MarkHidden("internal-healthz-listen-address"))
	d(&le.HealthzTimeout, "internal-healthz-leader-election-timeout", le.HealthzTimeout,
		"how long after the lease expired /livez still says healthy")
	utilruntime.Must(fs.MarkHidden("internal-healthz-leader-election-timeout"))

	i(&pem.MaxCertificateSize, "max-certificate-size", pem.MaxCertificateSize, "bytes of one PEM certificate, at most")
	i(&pem.MaxPrivateKeySize, "max-private-key-size", pem.MaxPrivateKeySize, "bytes of one PEM private key, at most")
	i(&pem.MaxChainLength, "max-certificate-chain-length", pem.MaxChainLength, "bytes of a PEM chain, at most")
	i(&pem.MaxBundleSize, "max-certificate-bundle-size", pem.MaxBundleSize, "bytes of a PEM bundle, at most")
	d(&c.CertificateRequestMinimumBackoffDuration, "certificate-request-minimum-backoff-duration",
		c.CertificateRequestMinimumBackoffDuration, "first backoff after a failed issuance (doubles each time)")

	logf.AddFlags(&c.Logging, fs)
}
