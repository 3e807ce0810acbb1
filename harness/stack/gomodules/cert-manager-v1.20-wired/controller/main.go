// Command controller is cert-manager v1.20's controller built from its own packages under a main written by
// certchaos (the release's cmd/controller is a nested module the Go module proxy does not serve): what it
// runs, in what order, with which leader election and servers, follows the release's documented flags
// and defaults; the controllers, issuers, metrics and health checks are the release's code.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	config "github.com/cert-manager/cert-manager/internal/apis/config/controller"
	configscheme "github.com/cert-manager/cert-manager/internal/apis/config/controller/scheme"
	defaults "github.com/cert-manager/cert-manager/internal/apis/config/controller/v1alpha1"
	"github.com/cert-manager/cert-manager/internal/apis/config/controller/validation"
	"github.com/cert-manager/cert-manager/internal/controller/feature"
	"github.com/cert-manager/cert-manager/internal/pem"
	configv1alpha1 "github.com/cert-manager/cert-manager/pkg/apis/config/controller/v1alpha1"
	"github.com/cert-manager/cert-manager/pkg/controller"
	shimgateways "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/gateways"
	shimlistenerset "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/listenerset"
	controllerconfigfile "github.com/cert-manager/cert-manager/pkg/controller/configfile"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/server"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
	"github.com/cert-manager/cert-manager/pkg/util/profiling"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/cert-manager/cert-manager/certchaos-wired/wiring"

	// Each registers its controllers or issuer (controller.Known, the issuer registry), as in the release.
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	_ "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/vault"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/venafi"
)

const (
	leaseName         = "cert-manager-controller" // the Lease every release since v1.0 takes
	shutdownGrace     = 5 * time.Second           // for the metrics and profiler servers
	readHeaderTimeout = 32 * time.Second          // against slow clients, as Kubernetes's servers
)

func main() {
	wiring.Main("controller", []string{"controller"}, command)
}

func command(ctx context.Context) *cobra.Command {
	cfg := wiring.Defaulted(ctx, configscheme.NewSchemeAndCodecs, &configv1alpha1.ControllerConfiguration{},
		&config.ControllerConfiguration{})
	var configPath string
	file := controllerconfigfile.New()
	cmd := wiring.Command(wiring.Component{
		Use: "controller", Short: "cert-manager's controller", Starting: "cert-manager controller",
		ConfigPath: &configPath, File: file, Adopt: func() { file.Config.DeepCopyInto(cfg) },
		Gates:    func() map[string]bool { return cfg.FeatureGates },
		Validate: func() error { return validation.ValidateControllerConfiguration(cfg, nil).ToAggregate() },
		Logging:  &cfg.Logging,
		Run:      func(ctx context.Context) error { return run(ctx, cfg) },
	})
	cmd.Flags().StringVar(&configPath, "config", "", "path to a ControllerConfiguration file (flags given win over it)")
	addFlags(cmd.Flags(), cfg)
	cmd.Flags().AddGoFlagSet(flag.CommandLine)
	return cmd
}

// enabledControllers resolves --controllers ('*', 'foo', '-foo') and the feature gates and namespace scope
// that add or remove controllers, the disabled ones last.
func enabledControllers(c *config.ControllerConfiguration) sets.Set[string] {
	enabled, disabled := sets.New[string](), []string{}
	for _, name := range c.Controllers {
		switch {
		case name == "*":
			enabled.Insert(defaults.DefaultEnabledControllers...)
		case strings.HasPrefix(name, "-"):
			disabled = append(disabled, strings.TrimPrefix(name, "-"))
		default:
			enabled.Insert(name)
		}
	}
	if len(enabled) == 0 && len(disabled) > 0 { // only removals: from the default set
		enabled.Insert(defaults.DefaultEnabledControllers...)
	}
	gate := utilfeature.DefaultFeatureGate.Enabled
	if gate(feature.ExperimentalCertificateSigningRequestControllers) {
		enabled.Insert(defaults.ExperimentalCertificateSigningRequestControllers...)
	}
	if gate(feature.ExperimentalGatewayAPISupport) && c.EnableGatewayAPI {
		enabled.Insert(shimgateways.ControllerName)
		if gate(feature.ListenerSets) && c.EnableGatewayAPIListenerSet {
			enabled.Insert(shimlistenerset.ControllerName)
		}
	}
	if c.Namespace != "" { // one namespace: no cluster-scoped controllers
		enabled.Delete(defaults.ClusterScopedControllers...)
	}
	return enabled.Delete(disabled...)
}

func run(ctx context.Context, c *config.ControllerConfiguration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := logf.FromContext(ctx)

	factory, err := contextFactory(ctx, c)
	if err != nil {
		return err
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	if err := applyPEMLimits(c.PEMSizeLimitsConfig); err != nil {
		return err
	}
	enabled := enabledControllers(c)
	log.Info(fmt.Sprintf("enabled controllers: %s", sets.List(enabled)))

	group, ctx := errgroup.WithContext(ctx)
	source := wiring.CertificateSource(c.MetricsTLSConfig, base.RESTConfig, "cert-manager")
	if source != nil {
		group.Go(func() error { return ignoreCanceled(source.Start(ctx)) })
	}
	metricsListener, err := server.Listen(ctx, "tcp", c.MetricsListenAddress, server.WithCertificateSource(source),
		server.WithTLSCipherSuites(c.MetricsTLSConfig.CipherSuites), server.WithTLSMinVersion(c.MetricsTLSConfig.MinTLSVersion))
	if err != nil {
		return fmt.Errorf("failed to listen on prometheus address %s: %v", c.MetricsListenAddress, err)
	}
	informers := base.SharedInformerFactory
	base.Metrics.SetupACMECollector(informers.Acme().V1().Challenges().Lister())
	base.Metrics.SetupCertificateCollector(informers.Certmanager().V1().Certificates().Lister())
	base.Metrics.SetupIssuerCollector(informers.Certmanager().V1().Issuers().Lister())
	base.Metrics.SetupClusterIssuerCollector(informers.Certmanager().V1().ClusterIssuers().Lister())
	serve(ctx, group, "metrics", base.Metrics.NewServer(metricsListener), metricsListener)

	if c.EnablePprof {
		listener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.PprofAddress)
		if err != nil {
			return fmt.Errorf("failed to listen on profiler address %s: %v", c.PprofAddress, err)
		}
		mux := http.NewServeMux()
		profiling.Install(mux)
		serve(ctx, group, "profiler", &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout}, listener)
	}

	healthzListener, err := (&net.ListenConfig{}).Listen(ctx, "tcp", c.HealthzListenAddress)
	if err != nil {
		return fmt.Errorf("failed to listen on healthz address %s: %v", c.HealthzListenAddress, err)
	}
	health := healthz.NewServer(c.LeaderElectionConfig.HealthzTimeout)
	group.Go(func() error { return health.Start(ctx, healthzListener) })

	elected := make(chan struct{})
	if c.LeaderElectionConfig.Enabled {
		group.Go(func() error { return lead(ctx, c, factory, health, elected) })
	} else {
		close(elected)
	}
	select {
	case <-ctx.Done(): // shutting down, or a server failed
		return group.Wait()
	case <-elected:
	}

	// Every controller is built before any informer starts: they register the informers they need.
	for name, constructor := range controller.Known() {
		if !enabled.Has(name) {
			continue
		}
		running, err := constructor(factory)
		if err != nil {
			cancel()
			return errors.Join(fmt.Errorf("error starting controller: %v", err), group.Wait())
		}
		group.Go(func() error {
			log.WithValues("controller", name).Info("starting controller")
			return running.Run(c.NumberOfConcurrentWorkers, ctx)
		})
	}
	gatewayAPI := utilfeature.DefaultFeatureGate.Enabled(feature.ExperimentalGatewayAPISupport) && c.EnableGatewayAPI
	base.SharedInformerFactory.Start(ctx.Done())
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())
	if gatewayAPI {
		base.GWShared.Start(ctx.Done())
	}
	if err := group.Wait(); err != nil {
		return fmt.Errorf("error starting controller: %v", err)
	}
	log.Info("control loops exited")
	if gatewayAPI {
		base.GWShared.Shutdown()
	}
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	return nil
}

// lead takes part in the election on the Lease and closes `elected` once this replica leads; losing the
// lease afterwards (not by shutting down) is an error, which stops the process: a new one campaigns again.
func lead(ctx context.Context, c *config.ControllerConfiguration, factory *controller.ContextFactory,
	health *healthz.Server, elected chan struct{}) error {
	election, err := factory.Build("leader-election")
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("error getting hostname: %v", err)
	}
	lock, err := resourcelock.NewWithLabels(resourcelock.LeasesResourceLock, c.LeaderElectionConfig.Namespace, leaseName,
		election.Client.CoreV1(), election.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "-external-cert-manager-controller", EventRecorder: election.Recorder},
		map[string]string{"app.kubernetes.io/managed-by": "cert-manager"})
	if err != nil {
		return fmt.Errorf("error creating leader election lock: %v", err)
	}
	lost := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   c.LeaderElectionConfig.LeaseDuration,
		RenewDeadline:   c.LeaderElectionConfig.RenewDeadline,
		RetryPeriod:     c.LeaderElectionConfig.RetryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        health.LeaderHealthzAdaptor,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					close(lost)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	elector.Run(ctx)
	select {
	case <-lost:
		return errors.New("leader election lost")
	default:
		return nil
	}
}

// contextFactory turns the configuration into the options every controller is built with.
func contextFactory(ctx context.Context, c *config.ControllerConfiguration) (*controller.ContextFactory, error) {
	nameservers := c.ACMEDNS01Config.RecursiveNameservers
	if len(nameservers) == 0 {
		nameservers = dnsutil.RecursiveNameservers
	}
	logf.FromContext(ctx).Info("configured acme dns01 nameservers", "nameservers", nameservers)
	http01 := c.ACMEHTTP01Config
	quantities := map[string]*resource.Quantity{}
	for name, value := range map[string]string{"request CPU": http01.SolverResourceRequestCPU,
		"request memory": http01.SolverResourceRequestMemory, "limits CPU": http01.SolverResourceLimitsCPU,
		"limits memory": http01.SolverResourceLimitsMemory} {
		parsed, err := resource.ParseQuantity(value)
		if err != nil {
			return nil, fmt.Errorf("error parsing the HTTP-01 solver's resource %s %q: %w", name, value, err)
		}
		quantities[name] = &parsed
	}
	return controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         c.KubeConfig,
		KubernetesAPIQPS:   c.KubernetesAPIQPS,
		KubernetesAPIBurst: c.KubernetesAPIBurst,
		APIServerHost:      c.APIServerHost,
		Namespace:          c.Namespace,
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverResourceRequestCPU:    *quantities["request CPU"],
			HTTP01SolverResourceRequestMemory: *quantities["request memory"],
			HTTP01SolverResourceLimitsCPU:     *quantities["limits CPU"],
			HTTP01SolverResourceLimitsMemory:  *quantities["limits memory"],
			ACMEHTTP01SolverRunAsNonRoot:      http01.SolverRunAsNonRoot,
			HTTP01SolverImage:                 http01.SolverImage,
			HTTP01SolverNameservers:           http01.SolverNameservers,
			DNS01Nameservers:                  nameservers,
			DNS01CheckRetryPeriod:             c.ACMEDNS01Config.CheckRetryPeriod,
			DNS01CheckAuthoritative:           !c.ACMEDNS01Config.RecursiveNameserversOnly,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: c.MaxConcurrentChallenges},
		IssuerOptions: controller.IssuerOptions{
			ClusterIssuerAmbientCredentials: c.ClusterIssuerAmbientCredentials,
			IssuerAmbientCredentials:        c.IssuerAmbientCredentials,
			ClusterResourceNamespace:        c.ClusterResourceNamespace,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerName:                 c.IngressShimConfig.DefaultIssuerName,
			DefaultIssuerKind:                 c.IngressShimConfig.DefaultIssuerKind,
			DefaultIssuerGroup:                c.IngressShimConfig.DefaultIssuerGroup,
			DefaultAutoCertificateAnnotations: c.IngressShimConfig.DefaultAutoCertificateAnnotations,
			ExtraCertificateAnnotations:       c.IngressShimConfig.ExtraCertificateAnnotations,
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           c.EnableCertificateOwnerRef,
			CopiedAnnotationPrefixes:                 c.CopiedAnnotationPrefixes,
			CertificateRequestMinimumBackoffDuration: c.CertificateRequestMinimumBackoffDuration,
		},
		ConfigOptions: controller.ConfigOptions{
			EnableGatewayAPI:            c.EnableGatewayAPI,
			EnableGatewayAPIListenerSet: c.EnableGatewayAPIListenerSet,
		},
	})
}

// applyPEMLimits sets the process-wide PEM size limits every decode of a certificate or key obeys.
func applyPEMLimits(l config.PEMSizeLimitsConfig) error {
	for name, value := range map[string]int{"maxCertificateSize": l.MaxCertificateSize,
		"maxPrivateKeySize": l.MaxPrivateKeySize, "maxChainLength": l.MaxChainLength, "maxBundleSize": l.MaxBundleSize} {
		if value <= 0 {
			return fmt.Errorf("failed to configure PEM size limits: %s must be greater than 0, got %d", name, value)
		}
	}
	if l.MaxCertificateSize > l.MaxBundleSize || l.MaxChainLength > l.MaxBundleSize {
		return fmt.Errorf("failed to configure PEM size limits: maxCertificateSize (%d) and maxChainLength (%d) "+
			"must not exceed maxBundleSize (%d)", l.MaxCertificateSize, l.MaxChainLength, l.MaxBundleSize)
	}
	pem.SetGlobalSizeLimits(pem.NewSizeLimitsFromConfig(l.MaxCertificateSize, l.MaxPrivateKeySize, l.MaxChainLength,
		l.MaxBundleSize))
	return nil
}

// serve runs `srv` on `listener` in the group until ctx ends, then gives it shutdownGrace to finish.
func serve(ctx context.Context, group *errgroup.Group, what string, srv *http.Server, listener net.Listener) {
	group.Go(func() error {
		<-ctx.Done()
		stop, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		return srv.Shutdown(stop) //nolint:contextcheck // ctx has ended: shutting down needs a fresh one
	})
	group.Go(func() error {
		logf.FromContext(ctx).Info("starting "+what+" server", "address", listener.Addr())
		if err := srv.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
