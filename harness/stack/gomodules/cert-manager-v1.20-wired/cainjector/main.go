// Command cainjector is cert-manager v1.20's CA injector built from its own packages under a main written by
// certchaos: the controller-runtime manager set up as the release documents (leader election on its Lease,
// Secrets read uncached, the wait for the Certificate CRD), running the release's injectors.
package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	config "github.com/cert-manager/cert-manager/internal/apis/config/cainjector"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/cainjector/scheme"
	"github.com/cert-manager/cert-manager/internal/apis/config/cainjector/validation"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/cainjector/v1alpha1"
	cainjectorconfigfile "github.com/cert-manager/cert-manager/pkg/cainjector/configfile"
	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	servertls "github.com/cert-manager/cert-manager/pkg/server/tls"
	"github.com/cert-manager/cert-manager/pkg/util"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/cert-manager/cert-manager/pkg/util/profiling"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	cliflag "k8s.io/component-base/cli/flag"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cert-manager/cert-manager/certchaos-wired/wiring"
)

const (
	leaseName         = "cert-manager-cainjector-leader-election"
	managedBy         = "cert-manager-cainjector"
	certificateCRD    = "certificates.cert-manager.io"
	crdWait           = 5 * time.Minute // how long the release waits for the Certificate CRD before failing
	readHeaderTimeout = 32 * time.Second
)

func main() {
	wiring.Main("cainjector", nil, func(ctx context.Context) *cobra.Command {
		ctrl.SetLogger(logf.Log)
		return command(ctx)
	})
}

func command(ctx context.Context) *cobra.Command {
	cfg := wiring.Defaulted(ctx, configscheme.NewSchemeAndCodecs, &configv1alpha1.CAInjectorConfiguration{},
		&config.CAInjectorConfiguration{})
	var configPath string
	file := cainjectorconfigfile.New()
	cmd := wiring.Command(wiring.Component{
		Use: "cainjector", Short: "cert-manager's CA injector", Starting: "cert-manager ca-injector",
		ConfigPath: &configPath, File: file, Adopt: func() { file.Config.DeepCopyInto(cfg) },
		Gates:    func() map[string]bool { return cfg.FeatureGates },
		Validate: func() error { return validation.ValidateCAInjectorConfiguration(cfg, nil).ToAggregate() },
		Logging:  &cfg.Logging,
		Run:      func(ctx context.Context) error { return run(ctx, cfg) },
	})
	cmd.Flags().StringVar(&configPath, "config", "", "path to a CAInjectorConfiguration file (flags given win over it)")
	addFlags(cmd.Flags(), cfg)
	return cmd
}

// addFlags binds the flags v1.20's cainjector documents to c; defaults are the release's (c as defaulted).
// --kubeconfig sets c.KubeConfig, which v1.20's cainjector never reads: it connects through controller-runtime's
// own lookup ($KUBECONFIG, in-cluster, ~/.kube/config), and so does this one.
func addFlags(fs *pflag.FlagSet, c *config.CAInjectorConfiguration) {
	s, b, d := fs.StringVar, fs.BoolVar, fs.DurationVar
	le, inject := &c.LeaderElectionConfig, &c.EnableInjectableConfig
	s(&c.KubeConfig, "kubeconfig", c.KubeConfig, "path to a kubeconfig (recorded; the connection uses $KUBECONFIG)")
	s(&c.Namespace, "namespace", c.Namespace, "inject only in this namespace; default: all")
	b(&le.Enabled, "leader-elect", le.Enabled, "elect one leader among the replicas")
	s(&le.Namespace, "leader-election-namespace", le.Namespace, "namespace of the leader election Lease")
	d(&le.LeaseDuration, "leader-election-lease-duration", le.LeaseDuration, "how long a candidate waits before taking the lease")
	d(&le.RenewDeadline, "leader-election-renew-deadline", le.RenewDeadline, "how long the leader tries to renew")
	d(&le.RetryPeriod, "leader-election-retry-period", le.RetryPeriod, "interval between acquire or renew attempts")
	b(&c.EnableDataSourceConfig.Certificates, "enable-certificates-data-source", c.EnableDataSourceConfig.Certificates,
		"inject from Certificates (cert-manager.io/inject-ca-from); needs the Certificate CRD")
	b(&inject.ValidatingWebhookConfigurations, "enable-validatingwebhookconfigurations-injectable",
		inject.ValidatingWebhookConfigurations, "inject into ValidatingWebhookConfigurations")
	b(&inject.MutatingWebhookConfigurations, "enable-mutatingwebhookconfigurations-injectable",
		inject.MutatingWebhookConfigurations, "inject into MutatingWebhookConfigurations")
	b(&inject.CustomResourceDefinitions, "enable-customresourcedefinitions-injectable", inject.CustomResourceDefinitions,
		"inject into CustomResourceDefinitions")
	b(&inject.APIServices, "enable-apiservices-injectable", inject.APIServices, "inject into APIServices")
	b(&c.EnablePprof, "enable-profiling", c.EnablePprof, "serve Go's profiler")
	s(&c.PprofAddress, "profiler-address", c.PprofAddress, "host:port of the profiler")
	fs.Var(cliflag.NewMapStringBool(&c.FeatureGates), "feature-gates",
		"key=value feature gates:\n"+strings.Join(utilfeature.DefaultFeatureGate.KnownFeatures(), "\n"))
	s(&c.MetricsListenAddress, "metrics-listen-address", c.MetricsListenAddress, "host:port of the metrics endpoint ('0': none)")
	wiring.AddMetricsTLSFlags(fs, &c.MetricsTLSConfig)
	logf.AddFlags(&c.Logging, fs)
}

func run(ctx context.Context, c *config.CAInjectorConfiguration) error {
	log := logf.FromContext(ctx)
	restConfig := util.RestConfigWithUserAgent(ctrl.GetConfigOrDie(), "cainjector")
	var namespaces map[string]cache.Config
	if c.Namespace != "" {
		namespaces = map[string]cache.Config{c.Namespace: {}}
	}
	source := wiring.CertificateSource(c.MetricsTLSConfig, restConfig, managedBy)
	metrics, err := metricsOptions(c, source)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{kscheme.AddToScheme, cmscheme.AddToScheme, apiext.AddToScheme,
		apireg.AddToScheme} {
		utilruntime.Must(add(scheme))
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme: scheme,
		Cache:  cache.Options{ReaderFailOnMissingInformer: true, DefaultNamespaces: namespaces},
		// Secrets are read from the API server each time, never cached: a cluster may hold many large ones.
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		LeaderElection:                c.LeaderElectionConfig.Enabled,
		LeaderElectionNamespace:       c.LeaderElectionConfig.Namespace,
		LeaderElectionID:              leaseName,
		LeaderElectionReleaseOnCancel: true,
		LeaderElectionLabels:          map[string]string{"app.kubernetes.io/managed-by": managedBy},
		LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
		LeaseDuration:                 &c.LeaderElectionConfig.LeaseDuration,
		RenewDeadline:                 &c.LeaderElectionConfig.RenewDeadline,
		RetryPeriod:                   &c.LeaderElectionConfig.RetryPeriod,
		Metrics:                       *metrics,
	})
	if err != nil {
		return fmt.Errorf("error creating manager: %v", err)
	}
	if source != nil {
		if err := mgr.Add(source); err != nil {
			return err
		}
	}
	if c.EnablePprof {
		if err := addProfiler(ctx, mgr, c.PprofAddress); err != nil {
			return err
		}
	}
	if c.EnableDataSourceConfig.Certificates {
		if err := awaitCertificateCRD(ctx, mgr); err != nil {
			log.Error(err, "error retrieving certificate.cert-manager.io CRDs")
			return err
		}
	}
	inject := c.EnableInjectableConfig
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		Namespace:                    c.Namespace,
		EnableCertificatesDataSource: c.EnableDataSourceConfig.Certificates,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   inject.MutatingWebhookConfigurations,
			cainjector.ValidatingWebhookConfigurationName: inject.ValidatingWebhookConfigurations,
			cainjector.APIServiceName:                     inject.APIServices,
			cainjector.CustomResourceDefinitionName:       inject.CustomResourceDefinitions,
		},
	}); err != nil {
		log.Error(err, "failed to register controllers")
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("error running manager: %v", err)
	}
	return nil
}

// awaitCertificateCRD polls, every second for up to crdWait, until the Certificate CRD exists (an error other
// than NotFound fails at once).
func awaitCertificateCRD(ctx context.Context, mgr ctrl.Manager) error {
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return fmt.Errorf("failed to create client: %w", err)
	}
	log := logf.FromContext(ctx)
	return wait.PollUntilContextTimeout(ctx, time.Second, crdWait, true, func(ctx context.Context) (bool, error) {
		err := direct.Get(ctx, types.NamespacedName{Name: certificateCRD}, &apiext.CustomResourceDefinition{})
		switch {
		case apierrors.IsNotFound(err):
			log.Info("cainjector has been configured to watch certificates, but " + certificateCRD +
				" CRD not found, retrying with a backoff...")
			return false, nil
		case err != nil:
			log.Error(err, "error checking if "+certificateCRD+" CRD is installed")
			return false, err
		}
		return true, nil
	})
}

// addProfiler serves Go's profiler on every replica, leader or not, until the manager stops.
func addProfiler(ctx context.Context, mgr ctrl.Manager, address string) error {
	listener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", address)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	profiling.Install(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}
	logf.FromContext(ctx).Info("running go profiler on", "address", address)
	return mgr.Add(everyReplica(func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(stop) //nolint:contextcheck // ctx has ended
		}()
		if err := srv.Serve(listener); err != http.ErrServerClosed {
			return err
		}
		return nil
	}))
}

// everyReplica is a manager runnable that runs without being elected.
type everyReplica func(context.Context) error

func (r everyReplica) Start(ctx context.Context) error { return r(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }

func metricsOptions(c *config.CAInjectorConfiguration, source servertls.CertificateSource) (*metricsserver.Options, error) {
	options := metricsserver.Options{BindAddress: c.MetricsListenAddress}
	if source == nil {
		return &options, nil
	}
	suites, err := cliflag.TLSCipherSuites(c.MetricsTLSConfig.CipherSuites)
	if err != nil {
		return nil, err
	}
	minimum, err := cliflag.TLSVersion(c.MetricsTLSConfig.MinTLSVersion)
	if err != nil {
		return nil, err
	}
	options.SecureServing = true
	options.TLSOpts = []func(*tls.Config){func(t *tls.Config) {
		t.CipherSuites, t.MinVersion, t.GetCertificate = suites, minimum, source.GetCertificate
	}}
	return &options, nil
}
